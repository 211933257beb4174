"""Provider payload parsing, signature checks and request shapes, one module per channel."""
