"""JSON Schema files for llmclient configs; installed as the package llmclient.schemas."""
