"""The ceiling for benchmarks/load.py: a FastAPI app that answers a constant JSON.  The route
is async, the fastest FastAPI has: a sync one would add a trip to a worker thread."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def constant() -> dict[str, str]:
    return {"status": "ok"}
