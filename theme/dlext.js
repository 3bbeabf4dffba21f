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
  // A box that scrolls sideways (a wide equation or output on a phone) must take the keyboard focus, or a
  // keyboard user cannot scroll it. The theme does this for code blocks and tables; do it for the rest.
  var SCROLLERS = ".bd-article div.math, .bd-article mjx-container[display='true'], .bd-article .cell_output .output, " +
                  ".bd-article .jupyter-widgets";
  function focusScrollers() {
    document.querySelectorAll(SCROLLERS).forEach(function (el) {
      var style = getComputedStyle(el);
      var scrolls = el.scrollWidth > el.clientWidth + 1 && /auto|scroll/.test(style.overflowX);
      if (scrolls && !el.hasAttribute("tabindex")) {
        el.setAttribute("tabindex", "0");
        if (!el.hasAttribute("role")) el.setAttribute("role", "region");
        if (!el.hasAttribute("aria-label")) el.setAttribute("aria-label", "scrollable content");
      }
    });
  }
  function run() {
    labelQuizInputs(document);
    focusScrollers();
    window.addEventListener("load", focusScrollers);
    window.addEventListener("resize", focusScrollers);
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) MathJax.startup.promise.then(focusScrollers);
    // Quizzes and widgets render after load; label what they add.
    new MutationObserver(function () { labelQuizInputs(document); })
      .observe(document.body, { childList: true, subtree: true });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
  else run();
})();
