/*
 * The gallery: every image's thumbnail, filtered by task, state, label, object class, NSFW
 * verdict, face count and a search over keys and OCR text, 100 to a page. The filters live in
 * the address (#task=faces&state=done&page=2), so a filtered view can be linked and Back works.
 * The index of all images is loaded once (a few MB for 100,000 images); OCR text only when a
 * search is typed; pictures only for the page shown.
 */
(function () {
  'use strict';
  var R = window.imgpipeReport;
  var el = R.el;
  var PER_PAGE = 100;
  var FILTERS = ['task', 'state', 'label', 'object', 'logo', 'nsfw', 'faces', 'q'];

  var entries = [];
  var texts = null;
  var textLoad = null;
  var controls = {};
  var grid;
  var status;
  var pager;
  var summary;

  function readFilters() {
    var params = new URLSearchParams(location.hash.slice(1));
    var filters = {};
    FILTERS.forEach(function (name) {
      filters[name] = params.get(name) || '';
    });
    filters.page = Math.max(1, parseInt(params.get('page') || '1', 10) || 1);
    return filters;
  }

  function writeFilters(filters) {
    var next = R.galleryLink(filters).slice('gallery.html'.length);
    if (next !== location.hash && !(next === '#' && location.hash === '')) location.hash = next;
    else render();
  }

  function facesMatch(want, count) {
    if (count === undefined) return false;
    if (want === '1+') return count >= 1;
    if (want === '5+') return count >= 5;
    return count === Number(want);
  }

  function matches(entry, f, query) {
    if (f.task) {
      var state = entry.states[f.task];
      if (!state || (f.state && state !== f.state)) return false;
    } else if (f.state) {
      var any = false;
      for (var task in entry.states) if (entry.states[task] === f.state) any = true;
      if (!any) return false;
    }
    if (f.label && !(entry.labels && entry.labels.indexOf(f.label) >= 0)) return false;
    if (f.object && !(entry.objects && entry.objects.indexOf(f.object) >= 0)) return false;
    if (f.logo && !(entry.logos && entry.logos.indexOf(f.logo) >= 0)) return false;
    if (f.nsfw && entry.nsfw !== f.nsfw) return false;
    if (f.faces && !facesMatch(f.faces, entry.faces)) return false;
    if (query) {
      var text = texts && texts.get(entry.id);
      if (entry.key.toLowerCase().indexOf(query) < 0 && !(text && text.indexOf(query) >= 0)) return false;
    }
    return true;
  }

  function loadTexts() {
    if (!textLoad) {
      textLoad = R.allChunks('text', summary.chunks.text).then(function (pairs) {
        texts = new Map();
        pairs.forEach(function (pair) {
          texts.set(pair[0], pair[1].toLowerCase());
        });
      });
    }
    return textLoad;
  }

  function card(entry) {
    var badges = [];
    if (entry.nsfw && entry.nsfw !== 'safe') badges.push(el('span', { class: 'badge nsfw-' + (entry.nsfw === 'unsafe' ? 'unsafe' : 'review'), text: entry.nsfw }));
    if (entry.faces) badges.push(el('span', { class: 'badge', text: entry.faces + (entry.faces === 1 ? ' face' : ' faces') }));
    if (entry.errors) badges.push(el('span', { class: 'badge failed', text: entry.errors.join(' ') }));
    return el('a', { class: 'card', href: R.imageLink(entry.id), title: entry.key, 'data-id': entry.id }, [
      el('div', { class: 'thumb' }, [entry.thumb ? el('img', { src: entry.thumb, alt: entry.key, loading: 'lazy', decoding: 'async' }) : R.placeholder()]),
      el('div', { class: 'caption', text: entry.key }),
      badges.length ? el('div', { class: 'badges' }, badges) : null,
    ]);
  }

  function pageButton(label, page, filters) {
    return el('button', {
      type: 'button',
      class: 'page',
      text: label,
      on: { click: function () { writeFilters(Object.assign({}, filters, { page: page })); } },
    });
  }

  function render() {
    var f = readFilters();
    FILTERS.forEach(function (name) {
      if (controls[name].value !== f[name]) controls[name].value = f[name];
    });
    var query = f.q.trim().toLowerCase();
    if (query && !texts) {
      status.textContent = 'Loading OCR text…';
      loadTexts().then(render).catch(R.fail);
      return;
    }
    var found = [];
    for (var i = 0; i < entries.length; i += 1) if (matches(entries[i], f, query)) found.push(entries[i]);
    var pages = Math.max(1, Math.ceil(found.length / PER_PAGE));
    var page = Math.min(f.page, pages);
    status.textContent = R.number(found.length, 0) + ' of ' + R.number(entries.length, 0) + ' images' + (pages > 1 ? ', page ' + page + ' of ' + pages : '');
    R.clear(grid);
    found.slice((page - 1) * PER_PAGE, page * PER_PAGE).forEach(function (entry) {
      grid.appendChild(card(entry));
    });
    R.clear(pager);
    if (pages > 1) {
      R.append(pager, [
        page > 1 ? pageButton('‹ previous', page - 1, f) : null,
        el('span', { class: 'page-of', text: 'page ' + page + ' of ' + pages }),
        page < pages ? pageButton('next ›', page + 1, f) : null,
      ]);
    }
  }

  function select(name, label, options) {
    var node = el('select', { name: name, id: 'filter-' + name, 'aria-label': label }, [el('option', { value: '', text: label + ': any' })].concat(
      options.map(function (option) {
        var value = Array.isArray(option) ? option[0] : option;
        var text = Array.isArray(option) ? option[1] : option;
        return el('option', { value: value, text: text });
      }),
    ));
    node.addEventListener('change', onChange);
    controls[name] = node;
    return el('label', { class: 'filter' }, [node]);
  }

  function onChange() {
    var filters = { page: 1 };
    FILTERS.forEach(function (name) {
      filters[name] = controls[name].value;
    });
    writeFilters(filters);
  }

  function withCounts(pairs) {
    return pairs.map(function (pair) {
      return [pair[0], pair[0] + ' (' + pair[1] + ')'];
    });
  }

  R.summary()
    .then(function (loaded) {
      summary = loaded;
      return R.allChunks('index', summary.chunks.index);
    })
    .then(function (all) {
      entries = all;
      var search = el('input', { type: 'search', name: 'q', id: 'filter-q', placeholder: 'search names and OCR text', 'aria-label': 'search names and OCR text' });
      var timer;
      search.addEventListener('input', function () {
        clearTimeout(timer);
        timer = setTimeout(onChange, 250);
      });
      controls.q = search;
      document.body.appendChild(R.header('gallery'));
      status = el('p', { class: 'status', id: 'gallery-status', role: 'status' });
      grid = el('div', { class: 'grid', id: 'gallery-grid' });
      pager = el('nav', { class: 'pager' });
      document.body.appendChild(
        el('main', {}, [
          el('h1', { text: 'Gallery' }),
          el('form', { class: 'filters', on: { submit: function (event) { event.preventDefault(); onChange(); } } }, [
            select('task', 'task', summary.tasks.map(function (t) { return t.task; })),
            select('state', 'state', ['pending', 'running', 'done', 'failed']),
            select('label', 'label', withCounts(summary.labels)),
            select('object', 'object', withCounts(summary.objects)),
            select('logo', 'logo', withCounts(summary.logos)),
            select('nsfw', 'NSFW', [['safe', 'safe'], ['review', 'review'], ['unsafe', 'unsafe']]),
            select('faces', 'faces', [['0', 'no face'], ['1+', 'at least one'], ['1', '1'], ['2', '2'], ['3', '3'], ['4', '4'], ['5+', '5 or more']]),
            el('label', { class: 'filter search' }, [search]),
            el('button', { type: 'button', text: 'clear', on: { click: function () { location.hash = ''; } } }),
          ]),
          status,
          grid,
          pager,
        ]),
      );
      window.addEventListener('hashchange', render);
      render();
    })
    .catch(R.fail);
})();
