"""Routers by audience: visitors (chat, pages), staff (search), editors (qa), Rasa (actions), health."""
