"""The database plumbing: engines (`engine`), the request's session and its admission
(`session`), SQL both databases speak (`sql`), the schema's migrations (`migrate`), column
types (`types`) and the change stamp (`stamp`).  It imports `app.core`, `app.config` and
`app.errors`, never a domain package nor `app.http`."""
