"""Developer tools that talk to a Tidings server from outside: `tidings listen`
follows a source to a local service, `tidings trigger` sends a provider-signed sample
event (samples/). The server never imports this package."""
