"""The ceiling for benchmarks/load.py: a FastAPI app that answers every GET with a constant
JSON (and a constant ETag, which the load client keeps for feeds), so that the load client can
send it exactly the requests it sends the service.  The route is async, the fastest FastAPI
has: a sync one would add a trip to a worker thread."""

from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()


@app.get("/{path:path}")
async def constant(path: str) -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers={"ETag": '"constant"'})
