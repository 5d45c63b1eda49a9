"""Config front ends: dict, .json and .baml to validated canonical dicts to clients."""
