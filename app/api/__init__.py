"""The JSON API's routes, one module per domain: thin, each a dependency or two (the session,
the caller from `caller`, a loaded entity) and calls into the domains' services.  The pages of
app/web are the other adapter; both sit above every domain package."""
