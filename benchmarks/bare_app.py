"""The ceiling for benchmarks/load.py: a FastAPI app that answers a constant JSON."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def constant() -> dict[str, str]:
    return {"status": "ok"}
