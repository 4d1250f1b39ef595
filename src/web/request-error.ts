// An answer the web server gives as an HTTP status with the message as its JSON error: a request the
// page should not have sent (400, 404), or one that cannot be done now (409). Route modules throw it;
// server.ts turns it into the response.
export class RequestError extends Error {
  override name = "RequestError";
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}
