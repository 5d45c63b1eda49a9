"""Tests of ``llmclient.testing``: the fake server's fixture comes from the root conftest's plugin."""
