// Placement test enhancements; the test works fully without them.
document.addEventListener("DOMContentLoaded", function () {
  // At most three plays of a listening recording (the first and two replays).
  document.querySelectorAll("audio[data-max-plays]").forEach(function (audio) {
    var max = parseInt(audio.getAttribute("data-max-plays"), 10);
    var plays = 0;
    var note = document.getElementById(audio.getAttribute("aria-describedby"));
    audio.addEventListener("play", function () {
      if (audio.currentTime > 0.1) { return; }  // resuming after a pause is the same play
      plays += 1;
      if (plays > max) {
        audio.pause();
        audio.removeAttribute("controls");
        return;
      }
      if (note && note.dataset.left) { note.textContent = note.dataset.left.replace("{n}", String(max - plays)); }
    });
    audio.addEventListener("ended", function () {
      if (plays >= max) { audio.removeAttribute("controls"); }
    });
  });
  // Keyboard shortcuts: 1-5 choose an option.
  var options = document.querySelectorAll(".options input[type=radio]");
  if (options.length) {
    document.addEventListener("keydown", function (event) {
      if (event.target.tagName === "INPUT" && event.target.type === "text") { return; }
      var n = parseInt(event.key, 10);
      if (n >= 1 && n <= options.length) { options[n - 1].checked = true; options[n - 1].focus(); }
    });
  }
});
