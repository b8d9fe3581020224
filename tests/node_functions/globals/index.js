exports.handler = async () => ({ awslambda: typeof awslambda });
