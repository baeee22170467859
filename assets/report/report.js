/*
 * Shared by the report's pages: loading the data scripts (data/*.js call
 * imgpipeReport.register), building DOM from data, and the page header.
 *
 * Safety: every string from the ledger (file names, keys, OCR text, error messages) is
 * untrusted. Pages are built only with createElement, textContent and setAttribute on a fixed
 * list of attributes; innerHTML is never used, and URLs are only ever made from numbers and
 * from paths that the report itself chose (pictures/...).
 */
(function () {
  'use strict';

  var registered = new Map();
  var waiting = new Map();

  function register(name, value) {
    registered.set(name, value);
    var waiter = waiting.get(name);
    if (waiter) {
      waiting.delete(name);
      waiter.resolve(value);
    }
  }

  /** Loads data/<file> (a script that registers `name`) once. */
  function load(file, name) {
    if (registered.has(name)) return Promise.resolve(registered.get(name));
    if (waiting.has(name)) return waiting.get(name).promise;
    var waiter = {};
    waiter.promise = new Promise(function (resolve, reject) {
      waiter.resolve = resolve;
      waiter.reject = reject;
    });
    waiting.set(name, waiter);
    var script = document.createElement('script');
    script.src = 'data/' + file;
    script.onerror = function () {
      waiting.delete(name);
      waiter.reject(new Error('cannot load data/' + file + ': is the report folder complete?'));
    };
    script.onload = function () {
      if (waiting.has(name)) {
        waiting.delete(name);
        waiter.reject(new Error('data/' + file + ' did not register ' + name));
      }
    };
    document.head.appendChild(script);
    return waiter.promise;
  }

  function chunk(kind, n) {
    return load(kind + '-' + String(n).padStart(4, '0') + '.js', kind + '-' + n);
  }

  /** All chunks of a kind, concatenated in order. */
  function allChunks(kind, count) {
    var loads = [];
    for (var i = 0; i < count; i += 1) loads.push(chunk(kind, i));
    return Promise.all(loads).then(function (parts) {
      return [].concat.apply([], parts);
    });
  }

  function summary() {
    return load('summary.js', 'summary');
  }

  var ATTRIBUTES = ['class', 'href', 'src', 'alt', 'title', 'id', 'type', 'value', 'placeholder', 'for', 'name', 'loading', 'decoding', 'width', 'height', 'role', 'colspan', 'data-layer', 'data-id', 'aria-label', 'selected', 'checked', 'open'];

  /** An element with attributes (from the fixed list), event handlers (`on`) and children (nodes or text). */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    var options = attrs || {};
    Object.keys(options).forEach(function (name) {
      var value = options[name];
      if (value === undefined || value === null || value === false) return;
      if (name === 'on') {
        Object.keys(value).forEach(function (event) {
          node.addEventListener(event, value[event]);
        });
      } else if (name === 'text') {
        node.textContent = String(value);
      } else if (name === 'style') {
        Object.keys(value).forEach(function (property) {
          node.style.setProperty(property, value[property]);
        });
      } else if (ATTRIBUTES.indexOf(name) >= 0) {
        node.setAttribute(name, value === true ? '' : String(value));
      } else {
        throw new Error('attribute not allowed: ' + name);
      }
    });
    append(node, children);
    return node;
  }

  function append(node, children) {
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
    });
    return node;
  }

  var SVG = 'http://www.w3.org/2000/svg';

  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (name) {
      node.setAttribute(name, String(attrs[name]));
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  /** Links to the gallery with filters, and to image pages, from values the report chose or encoded. */
  function galleryLink(filters) {
    var params = new URLSearchParams();
    Object.keys(filters).forEach(function (name) {
      if (filters[name] !== undefined && filters[name] !== '') params.set(name, filters[name]);
    });
    return 'gallery.html#' + params.toString();
  }

  function imageLink(id) {
    return 'image.html#id=' + Number(id);
  }

  function header(current) {
    var links = [
      ['index.html', 'Summary', 'summary'],
      ['gallery.html', 'Gallery', 'gallery'],
    ];
    return el('header', { class: 'top' }, [
      el('span', { class: 'brand', text: 'imgpipe report' }),
      el(
        'nav',
        {},
        links.map(function (link) {
          return el('a', { href: link[0], class: link[2] === current ? 'current' : undefined, text: link[1] });
        }),
      ),
    ]);
  }

  function number(value, digits) {
    if (value === null || value === undefined) return '–';
    return Number(value).toLocaleString('en', { maximumFractionDigits: digits === undefined ? 1 : digits });
  }

  function fail(error) {
    document.body.appendChild(el('p', { class: 'error', text: 'The report could not be shown: ' + (error && error.message ? error.message : String(error)) }));
  }

  /** Placeholder for an image without a picture (undecodable, missing). */
  function placeholder(reason) {
    return el('div', { class: 'placeholder', title: reason || 'no picture' }, [el('span', { text: 'no picture' })]);
  }

  window.imgpipeReport = {
    register: register,
    load: load,
    chunk: chunk,
    allChunks: allChunks,
    summary: summary,
    el: el,
    svg: svg,
    append: append,
    clear: clear,
    header: header,
    galleryLink: galleryLink,
    imageLink: imageLink,
    number: number,
    fail: fail,
    placeholder: placeholder,
  };
})();
