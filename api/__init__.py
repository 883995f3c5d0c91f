"""The HTTP service: the app and its lifespan, routes by audience, authentication, error mapping,
request/response schemas, the Rasa process supervisor, the web pages and the command line."""
