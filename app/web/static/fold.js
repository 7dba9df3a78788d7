// On a narrow screen the filter form folds away under its summary ("Filters"); without
// JavaScript, or on a wide screen, it stays open.
if (window.matchMedia("(max-width: 40rem)").matches) {
  for (const details of document.querySelectorAll("details.fold[open]")) {
    details.open = false;
  }
}
