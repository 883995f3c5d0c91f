"""The conversation: everything the bot says and decides.

The Rasa project (domain.yml, config.yml, data/), the custom actions (actions/), the answerer that
turns a retrieval decision into replies (answering.py), the reply models (replies.py), the
personal-advice line (advice.py), crisis and emergency detection (safety/), and conversations'
sessions (sessions.py), with the settings they read (settings.py).
"""
