"""One runner per simulator; each runs in its own process and writes one JSON record."""
