/*
 * B12 chat widget: an embeddable chat window for the B12 & fatty liver Rasa assistant,
 * talking to Rasa's socket.io channel. Plain JavaScript, no framework, no CDN.
 *
 * Embed (docs/embedding.md has the whole snippet and every option):
 *   <script>window.B12ChatConfig = {socketUrl: "http://localhost:5005", initPayload: "/greet",
 *                                   emergencyNumber: "999"};</script>
 *   <script src="https://your-host/widget.js" defer></script>
 *
 * Every piece of message text reaches the page through textContent / DOM nodes only,
 * never innerHTML, so HTML or script in a message is shown as text.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var BASE = script && script.src ? script.src.replace(/[^/]*(\?.*)?$/, "") : "";

  var DEFAULTS = {
    socketUrl: null,                 // required: the Rasa server, e.g. "http://localhost:5005"
    socketPath: "/socket.io/",       // Rasa's socketio_path
    transports: ["websocket"],       // or ["polling", "websocket"] (needs origins allowed, README)
    title: "B12 results helper",
    subtitle: "Questions about your vitamin B12 results",
    disclaimer: "General information only, not medical advice.",
    initPayload: null,               // e.g. "/greet": sent once when a new session starts
    inputPlaceholder: "Type your message",
    launcherLabel: "Chat about your B12 results",
    // Emergency numbers for this site's country, as dialled: the urgent card offers
    // "Call <number>" (a tel: link). Null: no call button, the card's text names numbers.
    emergencyNumber: null,           // e.g. "999" (UK), "911" (US), "112" (EU)
    crisisNumber: null,              // e.g. "116 123" (Samaritans, UK and Ireland), "988" (US)
    callLabel: "Call {number}",
    offlineSafetyLine: "If you feel very unwell, don't wait for this chat: call your local " +
      "emergency number.",
    startOverPayload: "/request_start_over",
    startOverLabel: "Start over",
    printLabel: "Print",
    printTitle: "Summary for my doctor",
    printedOn: "Printed on {date}",
    nothingToPrint: "There is nothing to print yet: check your results first.",
    startOpen: false,
    storage: "session",              // "session": kept for this tab only (the default, for
                                     // shared and kiosk computers); "local": kept after the
                                     // tab closes, for storageDays
    storageDays: 7,                  // "local" only: older conversations are wiped on load
    storagePrefix: "b12chat",
    maxTranscript: 300,              // messages kept per session
    replyTimeoutMs: 30000,           // the typing indicator gives up after this long
    clientUrl: BASE + "vendor/socket.io.min.js",
    stylesheetUrl: BASE + "widget.css"
  };

  var QUOTE_CITE = /^\s*\(from the article, section "(.+)"\)\s*$/;

  // ---------------------------------------------------------------- small helpers

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = String(value);
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  var SVG_NS = "http://www.w3.org/2000/svg";

  /** A small inline icon (no font or image needed): paths in a 24x24 box, hidden from
   *  assistive technology (the control it sits in has its own label). */
  function icon(paths, className) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "24");
    svg.setAttribute("height", "24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", className || "b12c-icon");
    paths.forEach(function (d) {
      var path = document.createElementNS(SVG_NS, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    return svg;
  }
  var CHAT_ICON = ["M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 " +
    "2-2z"];
  var ALERT_ICON = ["M12 2 1 21h22L12 2z", "M11 9h2v6h-2z", "M11 17h2v2h-2z"];
  var PHONE_ICON = ["M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 " +
    "3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 " +
    "1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z"];

  function telHref(number) {
    return "tel:" + String(number).replace(/[^0-9+]/g, "");
  }

  function srOnly(text) {
    return h("span", { className: "b12c-sr", text: text });
  }

  function uid() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  }

  function pickStorage(kind) {
    try {
      var store = kind === "session" ? window.sessionStorage : window.localStorage;
      var probe = "__b12chat_probe__";
      store.setItem(probe, "1");
      store.removeItem(probe);
      return store;
    } catch (e) {
      return null; // storage disabled: the chat still works, it just is not kept
    }
  }

  // ---------------------------------------------------------------- message parsing

  /** A custom payload of the given type, wherever Rasa put it; null when it is not one. */
  function payloadOf(message, type) {
    var candidates = [message, message && message.data, message && message.custom];
    for (var i = 0; i < candidates.length; i++) {
      var c = candidates[i];
      if (c && typeof c === "object" && c.type === type) return c;
    }
    return null;
  }
  function labTableOf(message) { return payloadOf(message, "lab_table"); }
  function strings(list) {
    return Array.isArray(list) ? list.filter(function (x) { return typeof x === "string"; }) : [];
  }

  /**
   * Split bot text into blocks: {kind: "text", text} and {kind: "quote", text, section}.
   * A quote is the line right before a `(from the article, section "...")` line.
   */
  function textBlocks(text) {
    var lines = String(text).split("\n");
    var blocks = [];
    var buffer = [];
    function flush() {
      if (buffer.length) blocks.push({ kind: "text", text: buffer.join("\n") });
      buffer = [];
    }
    for (var i = 0; i < lines.length; i++) {
      var cite = QUOTE_CITE.exec(lines[i]);
      if (cite && buffer.length && buffer[buffer.length - 1].trim()) {
        var quoted = buffer.pop().trim();
        flush();
        if (quoted.length >= 2 && quoted.charAt(0) === '"' &&
            quoted.charAt(quoted.length - 1) === '"') {
          quoted = quoted.slice(1, -1);
        }
        blocks.push({ kind: "quote", text: quoted, section: cite[1] });
      } else {
        buffer.push(lines[i]);
      }
    }
    flush();
    return blocks;
  }

  // ---------------------------------------------------------------- rendering

  function renderText(text) {
    var out = document.createDocumentFragment();
    textBlocks(text).forEach(function (block) {
      if (block.kind === "quote") {
        out.appendChild(h("figure", { className: "b12c-quote" }, [
          h("blockquote", {}, [h("p", { text: block.text })]),
          h("figcaption", {}, ["from the article, section ", h("cite", { text: block.section })])
        ]));
      } else if (block.text.trim()) {
        out.appendChild(h("p", { className: "b12c-text", text: block.text }));
      }
    });
    return out;
  }

  function renderLabTable(table) {
    var columns = Array.isArray(table.columns) ? table.columns.map(String) : [];
    var rows = Array.isArray(table.rows) ? table.rows.filter(Array.isArray) : [];
    if (!columns.length || !rows.length) {
      return h("p", { className: "b12c-text", text: "(A results table could not be shown.)" });
    }
    var caption = typeof table.caption === "string" && table.caption ? table.caption
      : "Your results";
    var thead = h("thead", {}, [h("tr", {}, columns.map(function (name) {
      return h("th", { scope: "col", text: name });
    }))]);
    var tbody = h("tbody", {}, rows.map(function (row) {
      return h("tr", {}, columns.map(function (_, index) {
        var value = row[index] === undefined || row[index] === null ? "" : String(row[index]);
        return index === 0 ? h("th", { scope: "row", text: value }) : h("td", { text: value });
      }));
    }));
    var element = h("table", { className: "b12c-table" }, [h("caption", { text: caption }),
      thead, tbody]);
    // A scroll box keeps an unexpectedly wide table from widening the page.
    return h("div", { className: "b12c-table-wrap", role: "group", "aria-label": caption,
      tabindex: "0" }, [element]);
  }

  /**
   * The summary card, first in every interpretation: the values against the reference table,
   * the condition used, what stands out, the questions for the clinician. Every word comes
   * from the payload (the server's catalogue); the widget only lays it out.
   */
  function renderSummaryCard(card) {
    var titleId = "b12c-card-" + uid().slice(0, 8);
    var heading = typeof card.heading === "string" ? card.heading : "";
    var headings = card.headings && typeof card.headings === "object" ? card.headings : {};
    var parts = [
      h("h3", { id: titleId, className: "b12c-card-title", text: heading.replace(/:\s*$/, "") }),
      typeof card.condition === "string" ? h("p", { className: "b12c-card-condition",
        text: card.condition }) : null,
      renderValues(card.columns, card.rows, card.lab_ranges, headings.lab_range)
    ];
    ["findings", "errors", "notes", "questions"].forEach(function (part) {
      var items = strings(card[part]);
      if (!items.length) return;
      parts.push(h("h4", { className: "b12c-card-part", text: String(headings[part] || "") }));
      parts.push(h("ul", { className: "b12c-card-list b12c-card-" + part },
        items.map(function (item) { return h("li", { text: item }); })));
    });
    var sources = strings(card.sources);
    if (sources.length) {
      parts.push(h("details", { className: "b12c-card-sources" }, [
        h("summary", { text: String(headings.sources || "").replace(/:\s*$/, "") }),
        h("ul", { className: "b12c-card-list" },
          sources.map(function (item) { return h("li", { text: item }); }))
      ]));
    }
    // An article, not a section: a region landmark per interpretation would repeat its name.
    return h("article", { className: "b12c-card", "aria-labelledby": titleId }, parts);
  }

  /**
   * One block per value, each column a labelled line: a table of five columns does not fit
   * a chat panel (the last columns were cut off with no sign that the table scrolls).
   */
  function renderValues(columns, rows, labRanges, labRangeLabel) {
    var names = Array.isArray(columns) ? columns.map(String) : [];
    var list = Array.isArray(rows) ? rows.filter(Array.isArray) : [];
    var ranges = strings(labRanges);
    return h("ul", { className: "b12c-values" }, list.map(function (row, at) {
      var cells = names.slice(1).map(function (name, index) {
        var value = row[index + 1] === undefined || row[index + 1] === null ? ""
          : String(row[index + 1]);
        return h("div", { className: "b12c-value-line" }, [
          h("dt", { text: name }), h("dd", { text: value })]);
      });
      if (ranges[at] && labRangeLabel) {  // the range printed on the patient's own report
        cells.push(h("div", { className: "b12c-value-line" }, [
          h("dt", { text: String(labRangeLabel) }), h("dd", { text: ranges[at] })]));
      }
      return h("li", { className: "b12c-value" }, [
        h("p", { className: "b12c-value-name", text: String(row[0] === undefined ? "" : row[0]) }),
        h("dl", {}, cells)
      ]);
    }));
  }

  /** The article's quotes for this interpretation: collapsed, opened on demand. */
  function renderQuotes(payload) {
    return h("details", { className: "b12c-quotes" }, [
      h("summary", { text: String(payload.heading || "") }),
      h("div", { className: "b12c-quotes-body" }, [renderText(String(payload.text || ""))])
    ]);
  }

  function renderAttachment(attachment) {
    var payload = attachment && attachment.payload;
    var src = payload && typeof payload.src === "string" ? payload.src : "";
    if (!/^https?:\/\//i.test(src)) return null;
    return h("p", { className: "b12c-text" }, [
      h("a", { href: src, target: "_blank", rel: "noopener noreferrer", text: "Open image" })
    ]);
  }

  function buttonsOf(message) {
    var list = message.quick_replies || message.buttons;
    if (!Array.isArray(list)) return [];
    return list.filter(function (b) {
      return b && typeof b.title === "string" && typeof b.payload === "string";
    });
  }

  function isRenderable(message) {
    return !!(message && (typeof message.text === "string" || labTableOf(message) ||
      payloadOf(message, "summary_card") || payloadOf(message, "quotes") ||
      buttonsOf(message).length || message.attachment));
  }

  // ---------------------------------------------------------------- the widget

  function Widget(config) {
    this.config = config;
    this.store = pickStorage(config.storage);
    this.socket = null;
    this.expireStorage();
    this.sessionId = this.load("session");
    this.sessionToken = this.load("token");
    this.pendingForget = false;
    this.confirmed = false;
    this.pending = [];
    this.offline = false;
    this.turnStart = null;
    this.transcript = this.sessionId ? this.loadTranscript(this.sessionId) : [];
    this.idleTimer = null;
    this.giveUpTimer = null;
    this.build();
  }

  Widget.prototype.key = function (name) {
    return this.config.storagePrefix + ":" + name;
  };
  Widget.prototype.load = function (name) {
    return this.store ? this.store.getItem(this.key(name)) : null;
  };
  Widget.prototype.save = function (name, value) {
    if (!this.store) return;
    try {
      if (value === null) this.store.removeItem(this.key(name));
      else this.store.setItem(this.key(name), value);
    } catch (e) { /* quota: keep going without persistence */ }
  };
  /** A kept conversation older than storageDays is wiped ("local" storage only). */
  Widget.prototype.expireStorage = function () {
    if (!this.store || this.config.storage !== "local") return;
    var saved = Number(this.load("saved_at") || 0);
    var maxAge = Number(this.config.storageDays) * 86400000;
    if (saved && maxAge > 0 && Date.now() - saved > maxAge) this.wipeStorage();
  };
  /** Remove everything this widget keeps in the browser. */
  Widget.prototype.wipeStorage = function () {
    var session = this.load("session");
    if (session) this.save("transcript:" + session, null);
    ["session", "token", "saved_at", "open"].forEach(function (name) {
      this.save(name, null);
    }, this);
  };
  Widget.prototype.loadTranscript = function (sessionId) {
    try {
      var parsed = JSON.parse(this.load("transcript:" + sessionId) || "[]");
      return Array.isArray(parsed) ? parsed : [];
    } catch (e) {
      return [];
    }
  };
  Widget.prototype.saveTranscript = function () {
    if (!this.sessionId) return;
    this.transcript = this.transcript.slice(-this.config.maxTranscript);
    this.save("transcript:" + this.sessionId, JSON.stringify(this.transcript));
    this.save("saved_at", String(Date.now()));
  };

  /** "Clear this conversation": the browser's copy now, the server's as soon as connected. */
  Widget.prototype.clearConversation = function () {
    var ok = window.confirm("Clear this conversation? Your messages and results will be " +
      "deleted from this device and from the assistant's server.");
    if (!ok) return;
    this.wipeStorage();
    this.transcript = [];
    while (this.log.firstChild) this.log.removeChild(this.log.firstChild);
    this.hideTyping();
    if (this.socket && this.confirmed) {
      this.confirmed = false;
      this.socket.emit("forget_session", {});
    } else if (this.sessionId) {
      this.pendingForget = true; // sent once the old session is confirmed again
    }
    this.setStatus("Conversation cleared.");
  };

  Widget.prototype.build = function () {
    var c = this.config;
    var self = this;
    var panelId = "b12c-panel-" + uid().slice(0, 8);
    var inputId = panelId + "-input";

    this.launcher = h("button", { type: "button", className: "b12c-launcher",
      "aria-expanded": "false", "aria-controls": panelId }, [
      icon(CHAT_ICON, "b12c-icon b12c-launcher-icon"),
      h("span", { className: "b12c-launcher-label", text: c.launcherLabel })
    ]);
    this.startOverButton = h("button", { type: "button", className: "b12c-clear b12c-start-over",
      text: c.startOverLabel, "aria-label": "Start over: clear the lab values you gave" });
    this.printButton = h("button", { type: "button", className: "b12c-clear b12c-print-button",
      text: c.printLabel, "aria-label": "Print or save a summary for your doctor" });
    this.clearButton = h("button", { type: "button", className: "b12c-clear",
      text: "Clear", "aria-label": "Clear this conversation" });
    this.closeButton = h("button", { type: "button", className: "b12c-close",
      "aria-label": "Close chat" }, [h("span", { "aria-hidden": "true", text: "×" })]);
    this.log = h("div", { className: "b12c-log", role: "log", "aria-live": "polite",
      "aria-relevant": "additions", "aria-label": "Conversation", tabindex: "0" });
    this.typing = h("div", { className: "b12c-typing", hidden: true, "aria-hidden": "true" }, [
      h("span", { className: "b12c-dot" }), h("span", { className: "b12c-dot" }),
      h("span", { className: "b12c-dot" }), h("span", { className: "b12c-typing-label",
        text: "Assistant is typing" })
    ]);
    this.status = h("p", { className: "b12c-status", role: "status" });
    this.input = h("input", { id: inputId, type: "text", className: "b12c-input",
      autocomplete: "off", maxlength: "2000", placeholder: c.inputPlaceholder,
      "aria-describedby": panelId + "-banner" });
    this.sendButton = h("button", { type: "submit", className: "b12c-send", text: "Send" });
    this.form = h("form", { className: "b12c-form" }, [
      h("label", { for: inputId, className: "b12c-sr", text: "Your message" }),
      this.input, this.sendButton
    ]);
    this.panel = h("section", { id: panelId, className: "b12c-panel", hidden: true,
      "aria-label": c.title }, [
      h("header", { className: "b12c-header" }, [
        h("div", {}, [
          h("h2", { className: "b12c-title", text: c.title }),
          c.subtitle ? h("p", { className: "b12c-subtitle", text: c.subtitle }) : null
        ]),
        h("div", { className: "b12c-actions" }, [this.startOverButton, this.printButton,
          this.clearButton, this.closeButton])
      ]),
      h("p", { id: panelId + "-banner", className: "b12c-banner", role: "note",
        text: c.disclaimer }),
      this.log, this.typing, this.status, this.form
    ]);
    this.root = h("div", { className: "b12c-root" }, [this.panel, this.launcher]);

    // History first, while the log is detached: it is not re-announced on reload.
    this.transcript.forEach(function (entry) { self.renderEntry(entry); });
    this.disableOldButtons();

    // Keep the newest message in view when the panel changes size (rotation, keyboard).
    this.pinned = true;
    this.log.addEventListener("scroll", function () {
      var log = self.log;
      self.pinned = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    });
    if (window.ResizeObserver) {
      new window.ResizeObserver(function () {
        if (self.turnStart) self.scrollToReply();
        else if (self.pinned) self.scrollToEnd();
      }).observe(this.log);
    }

    this.launcher.addEventListener("click", function () { self.toggle(); });
    this.closeButton.addEventListener("click", function () { self.close(); });
    this.clearButton.addEventListener("click", function () { self.clearConversation(); });
    this.printButton.addEventListener("click", function () { self.printSummary(); });
    this.startOverButton.addEventListener("click", function () {
      self.sendUser(c.startOverLabel, c.startOverPayload);
      self.input.focus();
    });
    this.panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") self.close();
    });
    this.form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = self.input.value.trim();
      if (!text) return;
      self.input.value = "";
      self.sendUser(text, text);
    });

    document.body.appendChild(this.root);
    if (c.startOpen || this.load("open") === "1") this.open(false);
  };

  Widget.prototype.isOpen = function () {
    return !this.panel.hidden;
  };

  Widget.prototype.open = function (focus) {
    this.panel.hidden = false;
    this.root.classList.add("b12c-open");
    this.launcher.setAttribute("aria-expanded", "true");
    this.save("open", "1");
    this.connect();
    this.scrollToEnd();
    if (focus !== false) this.input.focus();
  };

  Widget.prototype.close = function () {
    this.panel.hidden = true;
    this.root.classList.remove("b12c-open");
    this.launcher.setAttribute("aria-expanded", "false");
    this.save("open", null);
    this.launcher.focus();
  };

  Widget.prototype.toggle = function () {
    if (this.isOpen()) this.close(); else this.open();
  };

  Widget.prototype.setStatus = function (text) {
    this.status.textContent = text;
  };

  // ---------------------------------------------------------------- socket.io

  Widget.prototype.connect = function () {
    if (this.socket) return;
    var self = this;
    this.setStatus("Connecting…");
    loadClient(this.config.clientUrl, function (error) {
      if (error) {
        self.setStatus("The chat could not load. Please try again later.");
        return;
      }
      self.openSocket();
    });
  };

  Widget.prototype.openSocket = function () {
    var self = this;
    var socket = window.io(this.config.socketUrl, {
      path: this.config.socketPath,
      transports: this.config.transports,
      reconnectionDelayMax: 10000
    });
    this.socket = socket;
    socket.on("connect", function () {
      self.confirmed = false;
      self.offline = false;
      self.setStatus("");
      socket.emit("session_request",
        { session_id: self.sessionId, session_token: self.sessionToken });
    });
    socket.on("session_confirm", function (data) {
      var id = data && typeof data === "object" ? data.session_id : data;
      if (typeof id !== "string" || !id) return;
      var token = data && typeof data === "object" ? data.session_token : null;
      if (self.pendingForget && id === self.sessionId) {
        self.pendingForget = false;
        socket.emit("forget_session", {}); // a fresh session_confirm follows
        return;
      }
      self.pendingForget = false;
      var isNew = id !== self.sessionId;
      if (isNew) {
        self.sessionId = id;
        self.save("session", id);
        self.transcript = self.loadTranscript(id);
      }
      if (typeof token === "string" && token) {
        self.sessionToken = token;
        self.save("token", token);
      }
      self.confirmed = true;
      if (isNew && !self.transcript.length && self.config.initPayload) {
        self.emitUser(self.config.initPayload);
      }
      var queued = self.pending;
      self.pending = [];
      queued.forEach(function (text) { self.emitUser(text); });
    });
    socket.on("session_forgotten", function (data) {
      self.setStatus(data && data.deleted ? "Conversation cleared."
        : "This device's copy was cleared, but the server's could not be deleted. " +
          "Please try again later.");
    });
    socket.on(this.config.botEvent || "bot_uttered", function (message) {
      self.receiveBot(message);
    });
    socket.on("disconnect", function () {
      self.confirmed = false;
      self.offline = true;
      self.setStatus("Connection lost. Reconnecting…");
    });
    socket.on("connect_error", function () {
      self.offline = true;
      self.setStatus("Cannot reach the assistant. Retrying…");
    });
  };

  Widget.prototype.emitUser = function (text) {
    if (!this.socket || !this.confirmed) {
      this.pending.push(text);
      this.connect();
      return;
    }
    this.socket.emit(this.config.userEvent || "user_uttered",
      { message: text, session_id: this.sessionId });
    this.showTyping();
  };

  /** Whether a message sent now reaches the server (or will as soon as it is confirmed). */
  Widget.prototype.online = function () {
    return !this.offline && (navigator.onLine !== false);
  };

  /** Show `shown` as the user's message and send `payload` to the assistant; while the
   *  server cannot be reached, the message is kept and marked "not delivered". */
  Widget.prototype.sendUser = function (shown, payload) {
    var entry = { from: "user", text: shown };
    if (payload !== shown) entry.payload = payload;
    if (!this.online()) entry.undelivered = true;
    this.addEntry(entry);
    this.disableOldButtons();
    if (!entry.undelivered) this.emitUser(payload);
  };

  Widget.prototype.receiveBot = function (message) {
    if (!isRenderable(message)) return;
    // Keep plain JSON only (what the transcript can store and re-render).
    var clean = JSON.parse(JSON.stringify(message));
    this.addEntry({ from: "bot", message: clean });
    // Rasa sends a turn as several messages with no end marker: wait for a pause.
    var self = this;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(function () { self.hideTyping(); }, 800);
  };

  // ---------------------------------------------------------------- transcript and view

  Widget.prototype.addEntry = function (entry) {
    this.transcript.push(entry);
    this.saveTranscript();
    var item = this.renderEntry(entry);
    if (entry.from === "user" || !item) {
      this.turnStart = null;
      this.scrollToEnd();
      return;
    }
    // A long reply is read from its start: the first bot message of the turn stays at the
    // top of the view instead of the last one (the disclaimer) scrolling it away.
    if (!this.turnStart) this.turnStart = item;
    this.scrollToReply();
  };

  Widget.prototype.scrollToReply = function () {
    var log = this.log;
    var first = this.turnStart;
    var end = log.scrollHeight - log.clientHeight;
    if (!first) { this.scrollToEnd(); return; }
    var top = first.offsetTop - 8;
    log.scrollTop = Math.max(0, Math.min(top, end));
    this.pinned = top >= end;
  };

  Widget.prototype.renderEntry = function (entry) {
    var self = this;
    var item;
    if (entry.from === "user") {
      item = h("div", { className: "b12c-msg b12c-user" }, [
        srOnly("You: "), h("p", { className: "b12c-text", text: entry.text })
      ]);
      if (entry.undelivered) this.markUndelivered(item, entry);
    } else if (entry.from === "bot" && entry.message && (entry.message.kind === "urgent" ||
        entry.message.kind === "crisis")) {
      item = this.renderUrgent(entry.message);
    } else if (entry.from === "bot" && entry.message) {
      var message = entry.message;
      var table = labTableOf(message);
      var card = payloadOf(message, "summary_card");
      var quotes = payloadOf(message, "quotes");
      item = h("div", { className: "b12c-msg b12c-bot" }, [srOnly("Assistant: ")]);
      if (table) item.appendChild(renderLabTable(table));
      if (card) item.appendChild(renderSummaryCard(card));
      if (quotes) item.appendChild(renderQuotes(quotes));
      if (typeof message.text === "string") item.appendChild(renderText(message.text));
      if (message.attachment) {
        var attachment = renderAttachment(message.attachment);
        if (attachment) item.appendChild(attachment);
      }
      var buttons = buttonsOf(message);
      if (buttons.length) {
        var group = h("div", { className: "b12c-buttons", role: "group",
          "aria-label": "Suggested replies" });
        buttons.forEach(function (b) {
          var button = h("button", { type: "button", className: "b12c-button", text: b.title });
          button.addEventListener("click", function () {
            if (button.disabled) return;
            self.sendUser(b.title, b.payload);
            self.input.focus();
          });
          group.appendChild(button);
        });
        item.appendChild(group);
      }
    }
    if (item) this.log.appendChild(item);
    return item;
  };

  /**
   * The urgent or crisis reply: its own card (red, an icon, role="alert" so it is announced
   * at once), a call button for the site's configured number, and nothing else in it.
   */
  Widget.prototype.renderUrgent = function (message) {
    var c = this.config;
    var numbers = message.kind === "crisis" ? [c.crisisNumber, c.emergencyNumber]
      : [c.emergencyNumber];
    var calls = numbers.filter(function (n) { return n; }).map(function (number) {
      return h("a", { className: "b12c-call", href: telHref(number) }, [
        icon(PHONE_ICON), h("span", { text: c.callLabel.replace("{number}", number) })
      ]);
    });
    // The advice, then the call buttons, then what follows it (the general disclaimer).
    var parts = String(message.text).split("\n\n");
    var rest = parts.slice(1).join("\n\n");
    return h("div", { className: "b12c-msg b12c-urgent", role: "alert" }, [
      icon(ALERT_ICON, "b12c-icon b12c-urgent-icon"),
      h("div", { className: "b12c-urgent-body" }, [
        renderText(parts[0]),
        calls.length ? h("p", { className: "b12c-calls" }, calls) : null,
        rest ? h("div", { className: "b12c-urgent-after" }, [renderText(rest)]) : null
      ])
    ]);
  };

  /** A message the server never received: said so, with a retry and a safety line. */
  Widget.prototype.markUndelivered = function (item, entry) {
    var self = this;
    item.classList.add("b12c-undelivered");
    var retry = h("button", { type: "button", className: "b12c-retry", text: "Retry" });
    var note = h("p", { className: "b12c-undelivered-note" }, [
      h("strong", { text: "Not delivered. " }), retry
    ]);
    var safety = h("p", { className: "b12c-undelivered-safety", text: this.config.offlineSafetyLine });
    retry.addEventListener("click", function () {
      if (!self.online()) {
        self.setStatus("Still cannot reach the assistant. Your message is kept; please try " +
          "again in a moment.");
        return;
      }
      entry.undelivered = false;
      self.saveTranscript();
      item.classList.remove("b12c-undelivered");
      note.remove();
      safety.remove();
      self.turnStart = null;
      self.emitUser(entry.payload || entry.text);
      self.input.focus();
    });
    item.appendChild(note);
    item.appendChild(safety);
  };

  /**
   * "Print / save for my doctor": a page of its own with the latest interpretation only
   * (the summary with its sources, the article's quotes open, the referral, the caveat and
   * the disclaimer) and the date; the browser's print dialog also saves it as a PDF.
   */
  Widget.prototype.printSummary = function () {
    var c = this.config;
    var at = -1;
    for (var i = this.transcript.length - 1; i >= 0 && at < 0; i--) {
      var m = this.transcript[i].message;
      if (this.transcript[i].from === "bot" && m && payloadOf(m, "summary_card")) at = i;
    }
    if (at < 0) { this.setStatus(c.nothingToPrint); return; }
    var parts = [
      h("h1", { text: c.printTitle }),
      h("p", { className: "b12c-print-date", text: c.printedOn.replace("{date}",
        new Date().toLocaleDateString(document.documentElement.lang || undefined,
          { year: "numeric", month: "long", day: "numeric" })) })
    ];
    var payload = payloadOf(this.transcript[at].message, "summary_card");
    var card = renderSummaryCard(payload);
    var folded = card.querySelectorAll("details");
    for (var f = 0; f < folded.length; f++) folded[f].open = true;
    // On paper there is room for the table: one row per value keeps it to one page.
    var blocks = card.querySelector(".b12c-values");
    if (blocks) {
      var ranges = strings(payload.lab_ranges);
      var withRanges = ranges.some(function (r) { return r; }) && payload.headings;
      var columns = (payload.columns || []).concat(withRanges ? [payload.headings.lab_range] : []);
      var rows = (payload.rows || []).map(function (row, at) {
        return withRanges ? row.concat([ranges[at] || ""]) : row;
      });
      blocks.parentNode.replaceChild(renderLabTable({ caption: payload.heading,
        columns: columns, rows: rows }), blocks);
    }
    parts.push(card);
    // The rest of that reply: the quotes (open) and the closing text, up to the next user turn.
    for (var j = at + 1; j < this.transcript.length && this.transcript[j].from === "bot"; j++) {
      var message = this.transcript[j].message || {};
      var quotes = payloadOf(message, "quotes");
      if (quotes) {
        parts.push(h("h2", { text: String(quotes.heading || "").replace(/:\s*$/, "") }));
        parts.push(renderText(String(quotes.text || "")));
      } else if (typeof message.text === "string" && !message.kind) {
        parts.push(renderText(message.text));
      }
    }
    var sheet = h("div", { className: "b12c-print" }, parts);
    if (sheet.textContent.indexOf("not medical advice") < 0) {
      sheet.appendChild(h("p", { className: "b12c-print-disclaimer", text: c.disclaimer }));
    }
    var old = this.root.querySelector(".b12c-print");
    if (old) old.remove();
    this.root.appendChild(sheet);
    var html = document.documentElement;
    html.classList.add("b12c-printing");
    window.addEventListener("afterprint", function done() {
      window.removeEventListener("afterprint", done);
      html.classList.remove("b12c-printing");
      sheet.remove();
    });
    window.print();
  };

  /** Only the buttons of the bot messages since the user's last message stay usable. */
  Widget.prototype.disableOldButtons = function () {
    var items = this.log.children;
    var lastUser = -1;
    for (var i = 0; i < items.length; i++) {
      if (items[i].classList.contains("b12c-user")) lastUser = i;
    }
    for (var j = 0; j < items.length; j++) {
      var buttons = items[j].querySelectorAll(".b12c-buttons button");
      for (var k = 0; k < buttons.length; k++) buttons[k].disabled = j < lastUser;
    }
  };

  Widget.prototype.scrollToEnd = function () {
    this.log.scrollTop = this.log.scrollHeight;
  };

  Widget.prototype.showTyping = function () {
    var self = this;
    this.typing.hidden = false;
    this.panel.setAttribute("aria-busy", "true");
    clearTimeout(this.giveUpTimer);
    this.giveUpTimer = setTimeout(function () { self.hideTyping(); }, this.config.replyTimeoutMs);
  };

  Widget.prototype.hideTyping = function () {
    this.typing.hidden = true;
    this.panel.removeAttribute("aria-busy");
    clearTimeout(this.giveUpTimer);
  };

  // ---------------------------------------------------------------- start-up

  function loadClient(url, done) {
    if (typeof window.io === "function") { done(null); return; }
    var tag = document.createElement("script");
    tag.src = url;
    tag.async = true;
    tag.onload = function () { done(typeof window.io === "function" ? null : new Error("no io")); };
    tag.onerror = function () { done(new Error("failed to load " + url)); };
    document.head.appendChild(tag);
  }

  function loadStylesheet(url) {
    if (!url || document.querySelector('link[data-b12chat="css"]')) return;
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = url;
    link.setAttribute("data-b12chat", "css");
    document.head.appendChild(link);
  }

  function start() {
    var user = window.B12ChatConfig || {};
    var config = {};
    Object.keys(DEFAULTS).forEach(function (key) {
      config[key] = user[key] !== undefined ? user[key] : DEFAULTS[key];
    });
    config.userEvent = user.userEvent || "user_uttered";
    config.botEvent = user.botEvent || "bot_uttered";
    if (typeof config.socketUrl !== "string" || !config.socketUrl) {
      if (window.console) console.error("B12 chat: window.B12ChatConfig.socketUrl is required");
      return;
    }
    loadStylesheet(config.stylesheetUrl);
    var widget = new Widget(config);
    window.B12Chat = {
      open: function () { widget.open(); },
      close: function () { widget.close(); },
      /** Forget this browser's conversation (a new session starts on the next open). */
      reset: function () {
        widget.wipeStorage();
      },
      /** The same as the header's Clear button (asks first). */
      clear: function () { widget.clearConversation(); }
    };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
