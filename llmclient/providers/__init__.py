"""One module per wire protocol; each is a pure adapter plus a thin client over the shared loop."""
