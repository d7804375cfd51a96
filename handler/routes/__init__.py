"""One router per resource: embeddings, models, health, usage."""
