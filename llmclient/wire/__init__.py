"""Pure byte parsers for provider streams: no sockets, no clock."""
