"""Pure domain logic: plain values in, plain values out; no database, web or network."""
