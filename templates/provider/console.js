/*
 * Portcullis provider console: live updates. Polls /console/api/state
 * every second and replaces the rows of the gateways, receipts and
 * documents tables (text only: no HTML is built from the data).
 */
"use strict";
(function () {
	function iso(t) {
		if (!t) return "-";
		return new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
	}

	function cell(text, cls) {
		const td = document.createElement("td");
		td.textContent = text === null || text === undefined ? "-" : String(text);
		if (cls) td.className = cls;
		return td;
	}

	function fill(id, rows, build) {
		const tbody = document.querySelector("#" + id + " tbody");
		if (!tbody) return;
		tbody.replaceChildren(...rows.map(build));
	}

	function gatewayRow(g) {
		const tr = document.createElement("tr");
		tr.dataset.gateway = g.id;
		tr.append(cell(g.id, "id"), cell(g.state, "state state-" + g.state),
			cell(iso(g.last_seen), "last-seen"), cell(g.last_receipt, "last-receipt"),
			cell(g.push_url, "push-url"));
		return tr;
	}

	function receiptRow(r) {
		const tr = document.createElement("tr");
		tr.dataset.gateway = r.gateway;
		tr.dataset.message = r.message;
		tr.append(cell(r.gateway, "gateway"), cell(r.message, "message"), cell(r.message_seq),
			cell(r.state, "state state-" + r.state), cell(iso(r.time)), cell(iso(r.received)));
		return tr;
	}

	function documentRow(d) {
		const tr = document.createElement("tr");
		tr.dataset.seq = d.seq;
		tr.append(cell(d.seq), cell(d.type), cell(d.id, "id"), cell(iso(d.created)), cell(d.url));
		return tr;
	}

	const live = document.getElementById("live");

	async function poll() {
		try {
			const r = await fetch("/console/api/state", {
				credentials: "same-origin", cache: "no-store"
			});
			if (r.status === 401) {
				window.location.assign("/console/login");
				return;
			}
			if (!r.ok) throw new Error("HTTP " + r.status);
			const s = await r.json();
			fill("gateways", s.gateways, gatewayRow);
			fill("receipts", s.receipts, receiptRow);
			fill("documents", s.documents, documentRow);
			if (live) live.textContent = "live updates: " + iso(Math.floor(Date.now() / 1000));
		} catch (e) {
			if (live) live.textContent = "live updates: server unreachable (" + e.message + ")";
		}
		window.setTimeout(poll, 1000);
	}

	poll();
})();
