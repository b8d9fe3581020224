exports.handler = async () => {
  return { broken: ;
};
