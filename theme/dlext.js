// The book's own script (added to every page by _config.yml: html_js_files). Accessibility fixes for what
// other packages write into the page after it loads.
(function () {
  // jupyterquiz puts "Type numeric answer here:" in a <label> that is not tied to the answer box, so a
  // screen reader announces an unlabelled edit field. Tie each label to the box that follows it.
  function labelQuizInputs(root) {
    root.querySelectorAll(".Quiz input.Input-text").forEach(function (input) {
      if (input.labels && input.labels.length) return;
      var label = input.previousElementSibling;
      if (label && label.tagName === "LABEL" && !label.htmlFor && input.id) {
        label.htmlFor = input.id;
      } else if (!input.getAttribute("aria-label")) {
        input.setAttribute("aria-label", "numeric answer");
      }
    });
  }
  function run() {
    labelQuizInputs(document);
    // Quizzes and widgets render after load; label what they add.
    new MutationObserver(function () { labelQuizInputs(document); })
      .observe(document.body, { childList: true, subtree: true });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
  else run();
})();
