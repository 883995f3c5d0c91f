"""The Rasa project: domain, NLU data, rules and stories, and the custom actions."""
