TEXT = "hello from a sibling module"
