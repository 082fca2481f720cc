"""The lean ASGI paths in front of FastAPI, for the two routes under load: receiving
at an ingest URL (inbound.py) and sending a message (messages.py). Whatever they do
not answer goes on to FastAPI unchanged; answers.py is what they share."""
