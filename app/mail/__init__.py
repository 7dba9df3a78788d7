"""E-mail: composed from templates in the reader's language (compose), queued in the
transaction of the change it tells about (service.queue), sent by a worker thread over SMTP or,
without a server, written to the log (sending)."""
