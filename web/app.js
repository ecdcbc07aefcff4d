// SPDX-License-Identifier: Apache-2.0
// The MGS management page: image mapping queue, live status, message log. Plain browser JavaScript, no build.
// Data comes from the admin API beside this page (relative URLs, so any httpAdminRoot works), with the
// editor's login: the token the editor keeps in localStorage ('auth-tokens'), or our own login form.
'use strict';
(function () {
  var TEXTS = window.MGS_TEXTS;
  var lang = localStorage.getItem('mgs-lang') || ((navigator.language || 'ko').toLowerCase().indexOf('ko') === 0 ? 'ko' : 'en');
  var state = { filter: 'pending', q: '', selected: null, selectedPatient: null, timer: null, emr: null, tab: 'images', thumbs: {} };

  // ---------- helpers ----------
  function t(key, params) {
    var s = (TEXTS[lang] && TEXTS[lang][key]) || TEXTS.en[key] || key;
    if (params) Object.keys(params).forEach(function (k) { s = s.split('__' + k + '__').join(params[k]); });
    return s;
  }
  function $(sel, root) { return (root || document).querySelector(sel); }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'class') e.className = attrs[k];
      else if (k.indexOf('on') === 0) e.addEventListener(k.slice(2), attrs[k]);
      else if (attrs[k] !== undefined && attrs[k] !== null && attrs[k] !== false) e.setAttribute(k, attrs[k] === true ? '' : attrs[k]);
    });
    (children || []).forEach(function (c) { if (c !== null && c !== undefined) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  /** Local time as YYYY-MM-DD HH:mm:ss (24 h): the same in both languages, never day/month ambiguous. */
  function fmtTime(v) {
    if (v === null || v === undefined || v === '') return '';
    var d = new Date(v);
    if (isNaN(d.getTime())) return String(v);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  /** A translated label for a key family ('st.', 'kind.', 'dir.'), the value itself when there is none. */
  function label(prefix, v) {
    if (v === null || v === undefined || v === '') return '';
    var k = prefix + v;
    return (TEXTS[lang] && TEXTS[lang][k]) || TEXTS.en[k] || String(v);
  }
  function fmtHl7Time(v) {
    var m = /^(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?/.exec(v || '');
    return m ? m[1] + '-' + m[2] + '-' + m[3] + (m[4] ? ' ' + m[4] + ':' + (m[5] || '00') : '') : (v || '');
  }
  function ago(v) {
    var ms = Date.now() - (typeof v === 'number' ? v : new Date(v).getTime());
    if (!(ms >= 0)) return '';
    var s = Math.floor(ms / 1000);
    if (s < 60) return t('ago.s', { n: s });
    if (s < 3600) return t('ago.m', { n: Math.floor(s / 60) });
    if (s < 86400) return t('ago.h', { n: Math.floor(s / 3600) });
    return t('ago.d', { n: Math.floor(s / 86400) });
  }
  function fmtSize(n) {
    if (n === null || n === undefined) return '';
    return n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KB' : (n / 1048576).toFixed(1) + ' MB';
  }
  function notice(text, kind) {
    var n = $('#notice');
    n.textContent = text;
    n.className = 'notice ' + (kind || 'ok');
    n.hidden = false;
    clearTimeout(notice.timer);
    notice.timer = setTimeout(function () { n.hidden = true; }, kind === 'error' ? 12000 : 6000);
  }
  function patientText(p) {
    if (!p) return '';
    return (p.name ? p.name + ' ' : '') + '(' + p.id + ')' + (p.sex ? ' ' + t('sex.' + p.sex) : '') +
      (p.age ? ' ' + p.age : '') + (p.birthDate ? ' ' + fmtHl7Time(p.birthDate) : '');
  }

  // ---------- auth + API ----------
  function token() {
    try { var tk = JSON.parse(localStorage.getItem('auth-tokens') || 'null'); return tk && tk.access_token; } catch (e) { return null; }
  }
  function api(method, url, body, raw) {
    var headers = { 'Accept': 'application/json' };
    var tk = token();
    if (tk) headers.Authorization = 'Bearer ' + tk;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(url, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' })
      .then(function (res) {
        if (res.status === 401) { showLogin(); throw Object.assign(new Error('login'), { silent: true }); }
        if (raw) { if (!res.ok) throw new Error('HTTP ' + res.status); return res; }
        return res.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
          if (!res.ok) throw Object.assign(new Error((data && (data.message || data.error)) || ('HTTP ' + res.status)), { status: res.status, data: data });
          return data;
        });
      });
  }
  function showError(err) {
    if (err && err.silent) return;
    notice(err && err.message === 'Failed to fetch' ? t('error.network') : t('error.generic', { msg: err && err.message }), 'error');
  }
  function showLogin() {
    $('#login').hidden = false;
    $('#app').hidden = true;
    $('#login-user').focus();
  }
  function checkAuth() {
    return fetch('../auth/login', { cache: 'no-store' }).then(function (r) { return r.ok ? r.json() : {}; }).catch(function () { return {}; })
      .then(function (info) {
        if (info && info.type === 'credentials' && !token()) { showLogin(); return false; }
        return true;
      });
  }
  $('#login-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var body = new URLSearchParams({ client_id: 'node-red-editor', grant_type: 'password', scope: '',
      username: $('#login-user').value, password: $('#login-password').value });
    fetch('../auth/token', { method: 'POST', body: body }).then(function (r) {
      if (!r.ok) throw new Error('login');
      return r.json();
    }).then(function (tk) {
      localStorage.setItem('auth-tokens', JSON.stringify(tk));   // the editor's own key: one login for both
      $('#login').hidden = true;
      $('#app').hidden = false;
      $('#login-error').textContent = '';
      start();
    }).catch(function () { $('#login-error').textContent = t('login.failed'); });
  });

  // ---------- language ----------
  function applyLang() {
    document.documentElement.lang = lang;
    document.querySelectorAll('[data-t]').forEach(function (n) { n.textContent = t(n.getAttribute('data-t')); });
    document.querySelectorAll('[data-tp]').forEach(function (n) { n.setAttribute('placeholder', t(n.getAttribute('data-tp'))); });
    $('#lang').textContent = t('lang.switch');
    document.title = t('title');
  }
  $('#lang').addEventListener('click', function () {
    lang = lang === 'ko' ? 'en' : 'ko';
    localStorage.setItem('mgs-lang', lang);
    applyLang();
    refresh();
    if (state.selected) openImage(state.selected.id);
  });
  var op = $('#operator');
  op.value = localStorage.getItem('mgs-operator') || '';
  op.addEventListener('change', function () { localStorage.setItem('mgs-operator', op.value.trim()); });

  // ---------- tabs ----------
  document.querySelectorAll('[role=tab]').forEach(function (tab) {
    tab.addEventListener('click', function () { selectTab(tab.id.replace('tab-', '')); });
    tab.addEventListener('keydown', function (ev) {
      var tabs = Array.prototype.slice.call(document.querySelectorAll('[role=tab]'));
      var i = tabs.indexOf(tab);
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
        var n = tabs[(i + (ev.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
        n.focus(); selectTab(n.id.replace('tab-', ''));
      }
    });
  });
  function selectTab(name) {
    state.tab = name;
    document.querySelectorAll('[role=tab]').forEach(function (tab) {
      var on = tab.id === 'tab-' + name;
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
      tab.tabIndex = on ? 0 : -1;
      $('#' + tab.getAttribute('aria-controls')).hidden = !on;
    });
    if (location.hash !== '#' + name) history.replaceState(null, '', '#' + name);
    if (name === 'messages') loadMessages(); else refresh();
  }

  // ---------- image queue ----------
  var FILTERS = { pending: 'pending', waiting: 'awaiting-file,awaiting-message', done: 'approved,rejected' };
  document.querySelectorAll('.filter').forEach(function (b) {
    b.addEventListener('click', function () {
      state.filter = b.getAttribute('data-filter');
      document.querySelectorAll('.filter').forEach(function (x) { x.setAttribute('aria-pressed', x === b ? 'true' : 'false'); });
      loadImages();
    });
  });
  $('#image-search').addEventListener('submit', function (ev) { ev.preventDefault(); state.q = $('#image-q').value.trim(); loadImages(); });

  function thumb(entry) {
    var box = el('div', { class: 'thumb', 'aria-hidden': 'true' });
    if (!entry.size && entry.state === 'awaiting-file') { box.textContent = '⏳'; return box; }
    if (!/^image\/(jpeg|png|gif|bmp)$/.test(entry.contentType || '')) { box.textContent = (entry.contentType || '').indexOf('pdf') >= 0 ? 'PDF' : 'FILE'; return box; }
    var key = entry.id + ':' + entry.sha256;
    var img = el('img', { alt: '' });
    box.appendChild(img);
    if (state.thumbs[key]) { img.src = state.thumbs[key]; return box; }
    api('GET', 'image-queue/' + entry.id + '/file', undefined, true).then(function (r) { return r.blob(); }).then(function (b) {
      state.thumbs[key] = URL.createObjectURL(b);
      img.src = state.thumbs[key];
    }).catch(function () { box.textContent = '?'; });
    return box;
  }

  function loadImages() {
    return api('GET', 'image-queue?state=' + encodeURIComponent(FILTERS[state.filter]) + (state.q ? '&q=' + encodeURIComponent(state.q) : ''))
      .then(function (data) {
        var c = data.counts || {};
        $('#count-pending').textContent = c.pending || 0;
        $('#count-waiting').textContent = (c['awaiting-file'] || 0) + (c['awaiting-message'] || 0);
        $('#count-done').textContent = (c.approved || 0) + (c.rejected || 0);
        state.emr = data.emr;
        renderImageStatus(data);
        var list = clear($('#image-list'));
        if (!data.items.length) list.appendChild(el('li', { class: 'empty', text: t('image.none') }));
        data.items.forEach(function (e) {
          var selected = state.selected && state.selected.id === e.id;
          var btn = el('button', { type: 'button', class: 'item' + (selected ? ' selected' : ''), 'aria-current': selected ? 'true' : null,
            'data-id': e.id, onclick: function () { openImage(e.id); } }, [
            thumb(e),
            el('span', { class: 'meta' }, [
              el('strong', { text: e.name }),
              el('span', { class: 'badge ' + e.state, text: t('state.' + e.state) }),
              el('span', { class: 'line', text: [e.device ? t('image.device') + ' ' + e.device : '', e.barcode ? t('image.barcode') + ' ' + e.barcode : '', e.test || ''].filter(Boolean).join(' · ') }),
              el('span', { class: 'line muted', text: e.patient ? patientText(e.patient) : (['approved', 'rejected'].indexOf(e.state) < 0 ? t('image.waiting') + ' ' + ago(e.createdAt) : '') })
            ])
          ]);
          list.appendChild(el('li', {}, [btn]));
        });
      }).catch(showError);
  }

  function row(label, value) {
    return value ? el('div', { class: 'row' }, [el('dt', { text: label }), el('dd', { text: String(value) })]) : null;
  }

  function openImage(id) {
    return api('GET', 'image-queue/' + id).then(function (e) {
      state.selected = e;
      if (!state.selectedPatient || state.selectedPatient.forId !== e.id) state.selectedPatient = e.patient ? { forId: e.id, patient: e.patient } : null;
      document.querySelectorAll('#image-list .item').forEach(function (b) {
        var on = Number(b.getAttribute('data-id')) === e.id;
        b.classList.toggle('selected', on);
        if (on) b.setAttribute('aria-current', 'true'); else b.removeAttribute('aria-current');
      });
      renderDetail(e);
    }).catch(showError);
  }

  function renderDetail(e) {
    var d = clear($('#image-detail'));
    d.appendChild(el('h2', { id: 'detail-title', text: e.name }));
    d.appendChild(el('span', { class: 'badge ' + e.state, text: t('state.' + e.state) }));
    var preview = el('div', { class: 'preview' });
    if (e.size) {
      if (/^image\//.test(e.contentType || '')) {
        var img = el('img', { alt: e.name });
        preview.appendChild(img);
        api('GET', 'image-queue/' + e.id + '/file', undefined, true).then(function (r) { return r.blob(); })
          .then(function (b) { img.src = URL.createObjectURL(b); }).catch(function () { /* shown as missing */ });
      } else {
        preview.appendChild(el('button', { type: 'button', class: 'link', text: t('image.open') + ' (' + (e.contentType || '') + ')', onclick: function () {
          api('GET', 'image-queue/' + e.id + '/file', undefined, true).then(function (r) { return r.blob(); })
            .then(function (b) { window.open(URL.createObjectURL(b), '_blank'); }).catch(showError);
        } }));
      }
    } else {
      preview.appendChild(el('p', { class: 'muted', text: t('image.waitingFile') }));
    }
    d.appendChild(preview);
    if (e.state === 'awaiting-message') d.appendChild(el('p', { class: 'warn', text: t('image.waitingMessage') }));
    d.appendChild(el('dl', { class: 'facts' }, [
      row(t('image.device'), e.device), row(t('image.barcode'), e.barcode || (e.hl7 ? t('image.noBarcode') : '')), row(t('image.test'), e.test),
      row(t('image.observed'), fmtHl7Time(e.observedAt)), row(t('image.received'), fmtTime(e.createdAt)), row(t('image.size'), fmtSize(e.size)),
      row('MSH-10', e.controlId), row('SHA-256', e.sha256 ? e.sha256.slice(0, 16) + '…' : ''),
      row(t('image.mappedBy'), e.mappedBy ? e.mappedBy + ' · ' + fmtTime(e.mappedAt) + ' · ' + patientText(e.patient) : ''),
      row(t('image.decidedBy'), e.decidedBy ? e.decidedBy + ' · ' + fmtTime(e.decidedAt) : ''), row(t('image.reasonShown'), e.reason)
    ]));

    if (e.state === 'pending') d.appendChild(mappingForm(e));
    if (['pending', 'awaiting-file', 'awaiting-message'].indexOf(e.state) >= 0) {
      var rej = el('button', { type: 'button', class: 'danger outline', id: 'reject', text: t('image.reject') });
      rej.addEventListener('click', function () { rejectForm(e, rej); });
      d.appendChild(el('div', { class: 'actions' }, [rej]));
    }
    var hist = el('ol', { class: 'history' });
    (e.events || []).forEach(function (ev) {
      hist.appendChild(el('li', { text: fmtTime(ev.at) + ' · ' + ev.action + ' · ' + ev.actor }));
    });
    d.appendChild(el('details', {}, [el('summary', { text: t('image.history') }), hist]));
  }

  function mappingForm(e) {
    var box = el('section', { class: 'mapping', 'aria-labelledby': 'map-title' });
    box.appendChild(el('h3', { id: 'map-title', text: t('image.patientSearch') }));
    var results = el('div', { class: 'results', 'aria-live': 'polite' });
    var approve = el('button', { type: 'button', class: 'primary big', id: 'approve', disabled: true, text: t('image.approve') });
    function chosen() { return state.selectedPatient && state.selectedPatient.forId === e.id ? state.selectedPatient.patient : null; }
    function updateApprove() {
      var p = chosen();
      approve.disabled = !p;
      approve.textContent = p ? t('image.approveFor', { name: p.name || '', id: p.id }) : t('image.approve');
    }
    function choose(p) { state.selectedPatient = { forId: e.id, patient: p }; updateApprove(); }

    if (state.emr !== false) {
      var q = el('input', { type: 'search', id: 'patient-q', value: e.barcode || '', placeholder: t('image.patientHint'), 'aria-label': t('image.patientHint') });
      var form = el('form', { class: 'search', role: 'search' }, [q, el('button', { type: 'submit', text: t('search') })]);
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        api('GET', 'image-queue/patients?q=' + encodeURIComponent(q.value.trim())).then(function (r) {
          clear(results);
          if (!r.available) { state.emr = false; renderDetail(e); return; }
          if (!r.patients.length) { results.appendChild(el('p', { class: 'muted', text: t('image.noResults') })); return; }
          var list = el('ul', { class: 'patients', role: 'radiogroup', 'aria-label': t('image.results') });
          r.patients.forEach(function (p, i) {
            var id = 'pt-' + e.id + '-' + i;
            var radio = el('input', { type: 'radio', name: 'patient', id: id, value: p.id });
            radio.addEventListener('change', function () { choose(p); });
            list.appendChild(el('li', {}, [radio, el('label', { for: id, text: patientText(p) + (p.barcode ? ' · ' + p.barcode : '') })]));
          });
          results.appendChild(list);
        }).catch(showError);
      });
      box.appendChild(form);
    }
    if (state.emr === false) {
      box.appendChild(el('p', { class: 'muted', text: t('image.noEmr') }));
      var mid = el('input', { id: 'manual-id', autocomplete: 'off' });
      var mname = el('input', { id: 'manual-name', autocomplete: 'off' });
      var sync = function () { var v = mid.value.trim(); if (v) choose({ id: v, name: mname.value.trim() || undefined }); else { state.selectedPatient = null; updateApprove(); } };
      mid.addEventListener('input', sync);
      mname.addEventListener('input', sync);
      box.appendChild(el('div', { class: 'manual' }, [
        el('label', { for: 'manual-id', text: t('image.manualId') }), mid, el('label', { for: 'manual-name', text: t('image.manualName') }), mname]));
    }
    box.appendChild(results);
    approve.addEventListener('click', function () {
      var p = chosen();
      if (!p) return;
      approve.disabled = true;
      api('POST', 'image-queue/' + e.id + '/approve', { patient: p, patientId: p.id, operator: op.value.trim() || undefined }).then(function (r) {
        notice(t('image.approved', { name: r.name, patient: patientText(r.patient) }), 'ok');
        state.selectedPatient = null;
        return loadImages().then(function () { return openImage(e.id); });
      }).catch(function (err) { approve.disabled = false; showError(err); });
    });
    box.appendChild(el('div', { class: 'actions' }, [approve]));
    updateApprove();
    return box;
  }

  function rejectForm(e, button) {
    var f = $('#reject-template').content.firstElementChild.cloneNode(true);
    f.querySelectorAll('[data-t]').forEach(function (n) { n.textContent = t(n.getAttribute('data-t')); });
    button.replaceWith(f);
    f.querySelector('input').focus();
    f.querySelector('.cancel').addEventListener('click', function () { renderDetail(e); });
    f.addEventListener('submit', function (ev) {
      ev.preventDefault();
      api('POST', 'image-queue/' + e.id + '/reject', { reason: f.reason.value.trim(), operator: op.value.trim() || undefined }).then(function (r) {
        notice(t('image.rejected', { name: r.name }), 'ok');
        return loadImages().then(function () { return openImage(e.id); });
      }).catch(showError);
    });
  }

  function renderImageStatus(data) {
    var c = data.counts || {};
    var box = clear($('#status-images'));
    box.appendChild(el('dl', { class: 'facts' }, ['pending', 'awaiting-file', 'awaiting-message'].map(function (s) {
      return el('div', { class: 'row' }, [el('dt', { text: t('state.' + s) }),
        el('dd', { text: String(c[s] || 0) + (data.oldest && data.oldest[s] ? ' · ' + ago(data.oldest[s]) : '') })]);
    })));
  }

  // ---------- status ----------
  function table(headers, rows) {
    var tb = el('tbody');
    rows.forEach(function (r) { tb.appendChild(el('tr', {}, r.map(function (c) { return el('td', { text: c === null || c === undefined ? '' : String(c) }); }))); });
    return el('table', { class: 'table' }, [el('thead', {}, [el('tr', {}, headers.map(function (h) { return el('th', { text: h }); }))]), tb]);
  }
  function loadStatus() {
    var done = [];
    done.push(api('GET', 'api/stats').then(function (s) {
      var pm = (s && s.perMinute) || [];
      var now = Date.now();
      var last = pm.filter(function (m) { return new Date(m.minute).getTime() >= now - 120000; }).pop() || { in: 0, out: 0 };
      var hour = pm.reduce(function (a, m) { return { in: a.in + (m.in || 0), out: a.out + (m.out || 0) }; }, { in: 0, out: 0 });
      var rate = clear($('#status-rate'));
      rate.appendChild(el('p', { class: 'big-number' }, [String(last.in || 0), el('small', { text: ' ' + t('status.in') + ' / ' + (last.out || 0) + ' ' + t('status.out') + ' · ' + t('status.lastMinute') })]));
      rate.appendChild(el('p', { class: 'muted', text: t('status.lastHour') + ': ' + hour.in + ' ' + t('status.in') + ', ' + hour.out + ' ' + t('status.out') }));
      var bars = el('div', { class: 'bars', 'aria-hidden': 'true' });
      var max = Math.max.apply(null, [1].concat(pm.map(function (m) { return m.in || 0; })));
      pm.slice(-60).forEach(function (m) { bars.appendChild(el('span', { style: 'height:' + Math.round(((m.in || 0) / max) * 100) + '%' })); });
      rate.appendChild(bars);
      var errs = clear($('#status-errors'));
      var list = (s && s.recentErrors) || [];
      errs.appendChild(list.length ? table([t('msg.time'), t('msg.type'), 'MSH-10', t('status.destination'), ''],
        list.map(function (x) { return [fmtTime(x.at), x.type, x.controlId, x.destination, x.detail]; })) : el('p', { class: 'muted', text: t('status.none') }));
      var lis = clear($('#status-listeners'));
      var listeners = s && Array.isArray(s.listeners) ? s.listeners : null;
      if (listeners && listeners.length) {
        var lt = table([t('lis.name'), t('lis.address'), t('lis.connections'), t('lis.received'), t('lis.tls')],
          listeners.map(function (l) {
            return [l.name || t('lis.unnamed'), (l.host || '*') + ':' + l.port + (l.listening ? '' : ' ' + t('lis.down')),
              l.connections, l.received, l.tls ? t('lis.on') : t('lis.off')];
          }));
        lt.id = 'listener-table';
        lis.appendChild(lt);
      } else {
        lis.appendChild(el('p', { class: 'muted', text: listeners ? t('status.none') : t('status.unavailable') }));
      }
    }).catch(function (err) { if (!err.silent) $('#status-rate').textContent = t('status.unavailable'); }));
    done.push(api('GET', 'api/spool').then(function (sp) {
      var list = Array.isArray(sp) ? sp : (sp && (sp.destinations || sp.items)) || [];
      var box = clear($('#status-spool'));
      box.appendChild(list.length ? table([t('status.destination'), t('status.depth'), t('status.oldest'), t('status.dead'), ''],
        list.map(function (x) {
          return [x.destination, x.depth, x.oldestAt ? ago(x.oldestAt) : '', x.dead,
            x.head && x.head.lastError ? x.head.lastError.code + ' ' + (x.head.lastError.message || '') : ''];
        })) : el('p', { class: 'muted', text: t('status.none') }));
    }).catch(function (err) { if (!err.silent) $('#status-spool').textContent = t('status.unavailable'); }));
    done.push(loadImages());
    return Promise.all(done).then(function () { $('#status-time').textContent = fmtTime(Date.now()); });
  }

  // ---------- message log ----------
  $('#msg-search').addEventListener('submit', function (ev) { ev.preventDefault(); loadMessages(); });
  /**
   * A typed local time 'YYYY-MM-DD[ HH:mm[:ss]]' as an ISO instant for the API ('' when empty). A date
   * alone means the start of that day, or its end for the upper bound.
   */
  function isoOf(v, end) {
    v = (v || '').trim();
    if (!v) return '';
    var m = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(v);
    var d = m && (m[4] === undefined
      ? new Date(+m[1], +m[2] - 1, +m[3], end ? 23 : 0, end ? 59 : 0, end ? 59 : 0, end ? 999 : 0)
      : new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], m[6] === undefined ? (end ? 59 : 0) : +m[6], end ? 999 : 0));
    if (!d || isNaN(d.getTime()) || d.getMonth() !== +m[2] - 1) throw new Error(t('msg.badTime', { v: v }));
    return d.toISOString();
  }
  function loadMessages() {
    var params = [];
    var q = $('#msg-q').value.trim();
    if (q) params.push(encodeURIComponent($('#msg-field').value) + '=' + encodeURIComponent(q));
    var st = $('#msg-status').value;
    if (st) params.push('status=' + encodeURIComponent(st));
    var dir = $('#msg-direction').value;
    if (dir) params.push('direction=' + encodeURIComponent(dir));
    try {
      var from = isoOf($('#msg-from').value, false), to = isoOf($('#msg-to').value, true);
      if (from) params.push('from=' + encodeURIComponent(from));
      if (to) params.push('to=' + encodeURIComponent(to));
    } catch (err) { showError(err); return Promise.resolve(); }
    params.push('limit=100');
    return api('GET', 'api/messages?' + params.join('&')).then(function (r) {
      var items = Array.isArray(r) ? r : (r.items || []);
      var tb = clear($('#msg-table tbody'));
      items.forEach(function (m) {
        var cells = [
          el('td', { class: 'nowrap', text: fmtTime(m.receivedAt) }),
          el('td', { class: 'dir ' + m.direction, text: (m.direction === 'out' ? '→ ' : '← ') + label('dir.', m.direction) }),
          el('td', { text: m.kind ? label('kind.', m.kind) : (m.type || '') }),
          el('td', { class: 'nowrap', text: m.type || '' }),
          el('td', { class: 'clip', title: m.controlId || '', text: m.controlId || '' }),
          el('td', { text: m.barcode || '' }),
          el('td', { text: m.patientId || '' }),
          el('td', {}, [el('span', { class: 'badge st-' + m.status, 'data-status': m.status, text: label('st.', m.status) })]),
          el('td', { text: m.destination || '' }),
          el('td', { class: 'nowrap muted', text: m.peer || '' })
        ];
        var tr = el('tr', { tabindex: '0', 'data-id': m.id, 'data-direction': m.direction }, cells);
        var open = function () {
          tb.querySelectorAll('tr.selected').forEach(function (x) { x.classList.remove('selected'); });
          tr.classList.add('selected');
          openMessage(m.id);
        };
        tr.addEventListener('click', open);
        tr.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') open(); });
        tb.appendChild(tr);
      });
      $('#msg-total').textContent = t('msg.total', { n: r.total !== undefined ? r.total : items.length });
    }).catch(showError);
  }
  /** Bytes of base64 text. */
  function bytesOf(b64) {
    var bin = atob(b64), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  /** Classic hex dump: offset, 16 bytes in hex, the printable ASCII (control bytes as '.', CR as '␍'). */
  function hexDump(bytes) {
    var lines = [];
    for (var o = 0; o < bytes.length; o += 16) {
      var hex = '', txt = '';
      for (var i = o; i < o + 16; i++) {
        if (i < bytes.length) {
          var b = bytes[i];
          hex += (b < 16 ? '0' : '') + b.toString(16) + ' ';
          txt += b === 13 ? '␍' : b >= 32 && b < 127 ? String.fromCharCode(b) : '.';
        } else hex += '   ';
        if (i === o + 7) hex += ' ';
      }
      lines.push(('0000000' + o.toString(16)).slice(-8) + '  ' + hex + ' ' + txt);
    }
    return lines.join('\n');
  }
  function openMessage(id) {
    return api('GET', 'api/messages/' + id).then(function (m) {
      var d = clear($('#msg-detail'));
      d.appendChild(el('h2', { text: (m.type || '') + ' #' + (m.controlId || m.id) }));
      d.appendChild(el('span', { class: 'badge st-' + m.status, text: label('st.', m.status) }));
      d.appendChild(el('dl', { class: 'facts' }, [row(t('msg.time'), fmtTime(m.receivedAt)),
        row(t('msg.direction'), label('dir.', m.direction)), row(t('msg.kind'), m.kind ? label('kind.', m.kind) : m.type),
        row(t('msg.destination'), m.destination), row(t('msg.barcode'), m.barcode), row(t('msg.patientId'), m.patientId),
        row(t('msg.peer'), m.peer), row(t('msg.error'), m.lastError ? m.lastError.code + ' ' + (m.lastError.message || '') : '')]));
      if (m.direction !== 'out') {
        var rp = el('button', { type: 'button', class: 'primary', id: 'reprocess', text: t('msg.reprocess') });
        rp.addEventListener('click', function () {
          api('POST', 'api/messages/reprocess', { ids: [m.id] }).then(function () {
            notice(t('msg.reprocessed', { id: m.id }), 'ok');
            return loadMessages();
          }).catch(showError);
        });
        d.appendChild(el('div', { class: 'actions' }, [rp]));
      }
      d.appendChild(el('h3', { text: t('msg.text') }));
      d.appendChild(el('pre', { class: 'hl7', text: (m.text || '').replace(/\r\n?/g, '\n') }));
      var raw = null;
      try { raw = m.raw ? bytesOf(m.raw) : null; } catch (e) { raw = null; }
      d.appendChild(el('details', { class: 'raw' }, [el('summary', { text: t('msg.raw') + (raw ? ' · ' + t('msg.bytes', { n: raw.length }) : '') }),
        raw ? el('pre', { class: 'hex', text: hexDump(raw) }) : el('p', { class: 'muted', text: t('msg.noRaw') })]));
      var hist = el('ol', { class: 'history' });
      (m.history || []).forEach(function (h) {
        hist.appendChild(el('li', { text: fmtTime(h.at) + ' · ' + label('st.', h.status) + ' · ' + (h.actor || '') + (h.detail ? ' · ' + h.detail : '') }));
      });
      d.appendChild(el('details', { open: true }, [el('summary', { text: t('msg.history') }), hist]));
    }).catch(showError);
  }

  // ---------- refresh loop ----------
  function refresh() {
    if (state.tab === 'images') return loadImages();
    if (state.tab === 'status') return loadStatus();
    return Promise.resolve();
  }
  /** With a login, decisions are recorded under the user's name: show it instead of the free operator field. */
  function whoAmI() {
    if (!token()) return;
    api('GET', '../settings').then(function (st) {
      var name = st && st.user && st.user.username;
      if (!name) return;
      $('#user').textContent = name;
      op.parentNode.hidden = true;
    }).catch(function () { /* older runtimes: keep the operator field */ });
  }
  function start() {
    applyLang();
    whoAmI();
    var tab = (location.hash || '#images').slice(1);
    selectTab(['images', 'status', 'messages'].indexOf(tab) >= 0 ? tab : 'images');
    clearInterval(state.timer);
    state.timer = setInterval(function () { if (!document.hidden) refresh(); }, 5000);
  }

  applyLang();
  checkAuth().then(function (ok) { if (ok) start(); });
})();
