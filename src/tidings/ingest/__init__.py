"""The receiving half: sources that verify inbound webhooks from third parties."""
