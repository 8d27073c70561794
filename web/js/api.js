// The dashboard's data source: the analytics API of the server that served the page.
//
// URLs are relative to the page, so the same files work at "/" of `make serve` and under
// Airflow's "/footfall/". The token never travels in a URL and is never stored by the page: it
// is posted once to session/, which answers with an HttpOnly cookie the browser then sends.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function endpoint(path, params = {}) {
  const url = new URL(`api/analytics/${path}`, document.baseURI);
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  return url;
}

async function answerOf(response) {
  if (response.ok) return response.status === 204 ? null : response.json();
  let message = `${response.status} ${response.statusText}`;
  try {
    message = (await response.json()).error.message;
  } catch {
    // not the API's error shape: keep the status line
  }
  throw new ApiError(response.status, message);
}

export class ApiSource {
  async get(path, params = {}) {
    const response = await fetch(endpoint(path, params), { credentials: "same-origin", headers: { Accept: "application/json" } });
    return answerOf(response);
  }

  async signIn(token) {
    const response = await fetch(endpoint("session/"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ token }),
    });
    return answerOf(response);
  }

  async signOut() {
    await answerOf(await fetch(endpoint("session/"), { method: "DELETE", credentials: "same-origin" }));
  }
}
