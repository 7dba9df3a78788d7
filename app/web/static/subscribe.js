// The subscribe page, enhanced: the error summary takes the focus, and each address of a new
// private feed gets a Copy button (the address stays selectable text without JavaScript).
"use strict";
document.querySelector(".error-summary")?.focus();
const copied = document.getElementById("copied");
for (const button of document.querySelectorAll("button.copy")) {
  if (!navigator.clipboard) break;
  button.hidden = false;
  button.addEventListener("click", async () => {
    await navigator.clipboard.writeText(document.getElementById(button.dataset.copy).textContent);
    copied.textContent = copied.dataset.copied;
  });
}
