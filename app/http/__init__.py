"""The HTTP pipeline: what every request passes through before and after a route
(middlewares, error answers, the operations routes, the application's assembly).  It imports
`app.core`, `app.config`, `app.errors` and `app.db`, never a domain package."""
