"""Custom actions. They run inside the API's process (rasa-sdk's ActionExecutor behind an internal
route), so the retriever and its index are loaded once and shared with the staff search."""
