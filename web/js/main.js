// The served dashboard: sign in (token -> HttpOnly cookie), then draw the panels from the API.

import { ApiSource } from "./api.js";
import { Dashboard } from "./dashboard.js";

const source = new ApiSource();
const signIn = document.getElementById("sign-in");
const form = document.getElementById("sign-in-form");
const field = document.getElementById("token");
const message = document.getElementById("sign-in-message");
const app = document.getElementById("app");
const account = document.getElementById("account");
const signOut = document.getElementById("sign-out");

function showSignIn(text = "") {
  app.hidden = true;
  account.hidden = true;
  signIn.hidden = false;
  message.textContent = text;
  field.focus();
}

function start(session) {
  signIn.hidden = true;
  app.hidden = false;
  account.hidden = false;
  document.getElementById("role").textContent = session.role;
  new Dashboard(app, source, session, { onUnauthorized: () => showSignIn("Your session has ended: sign in again.") });
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = field.value.trim();
  field.value = "";
  if (!token) return;
  try {
    start((await source.signIn(token)).data);
  } catch (error) {
    showSignIn(error.status === 401 ? "That token is not valid." : `Could not sign in: ${error.message}`);
  }
});

signOut.addEventListener("click", async () => {
  await source.signOut();
  location.reload();
});

try {
  const session = (await source.get("session/")).data;
  if (session) start(session);
  else showSignIn();
} catch (error) {
  showSignIn(`The API answered: ${error.message}`);
}
