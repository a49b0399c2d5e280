"""Real sources: RSS/Atom/RDF feeds and their article pages, polled politely
and ingested through the same service path as the API."""
