/*
 * An image page (image.html#id=N): the picture with the results drawn over it (face boxes,
 * object boxes with class and score, OCR word boxes, logo boxes, model-card detections, the
 * background's subject box), the anonymised copy or cut-out beside it, and every field of
 * every job. Boxes are in the upright original's pixels: the overlay is an SVG whose viewBox is
 * the original's size, laid exactly over the picture, so it scales with it.
 */
(function () {
  'use strict';
  var R = window.imgpipeReport;
  var el = R.el;

  function done(record, task) {
    for (var i = 0; i < record.jobs.length; i += 1) {
      var job = record.jobs[i];
      if (job.task === task && job.state === 'done' && job.result) return job.result;
    }
    return null;
  }

  function isBox(box) {
    return box && typeof box.x === 'number' && typeof box.y === 'number' && typeof box.width === 'number' && typeof box.height === 'number';
  }

  /** The overlay layers of a record: [{name, className, boxes: [{box, label, faint}]}]. */
  function layers(record) {
    var result = [];
    var faces = done(record, 'faces');
    if (faces && Array.isArray(faces.faces)) {
      result.push({
        name: 'faces',
        className: 'face',
        // Detections are best first; the first `count` reach --faces-min-score, the rest are shown faint.
        boxes: faces.faces.map(function (face, i) {
          return { box: face.box, label: 'face ' + Number(face.score).toFixed(2), faint: i >= faces.count };
        }),
      });
    }
    var objects = done(record, 'objects');
    if (objects && Array.isArray(objects.objects)) {
      result.push({
        name: 'objects',
        className: 'object',
        boxes: objects.objects.map(function (object) {
          return { box: object.box, label: object.label + ' ' + Number(object.score).toFixed(2) };
        }),
      });
    }
    var ocr = done(record, 'ocr');
    if (ocr && Array.isArray(ocr.lines)) {
      var words = [];
      ocr.lines.forEach(function (line) {
        (line.words || []).forEach(function (word) {
          words.push({ box: word.box, title: word.text + ' (' + word.confidence + ')' });
        });
      });
      result.push({ name: 'OCR words', className: 'ocr', boxes: words });
    }
    var logos = done(record, 'logos');
    if (logos && Array.isArray(logos.logos)) {
      result.push({
        name: 'logos',
        className: 'logo',
        boxes: logos.logos.map(function (logo) {
          return { box: logo.box, label: logo.brand + ' ' + Number(logo.score).toFixed(2) };
        }),
      });
    }
    var background = done(record, 'background');
    if (background && isBox(background.box)) result.push({ name: 'background subject', className: 'subject', boxes: [{ box: background.box, label: 'subject' }] });
    // Model-card detectors: any other task whose result lists detections with boxes.
    record.jobs.forEach(function (job) {
      if (job.state !== 'done' || !job.result || !Array.isArray(job.result.detections)) return;
      result.push({
        name: job.task,
        className: 'detection',
        boxes: job.result.detections.map(function (d) {
          return { box: d.box, label: d.label + ' ' + Number(d.score).toFixed(2) };
        }),
      });
    });
    result.forEach(function (layer) {
      layer.boxes = layer.boxes.filter(function (b) {
        return isBox(b.box);
      });
    });
    return result;
  }

  function overlay(picture, all) {
    var size = Math.max(picture.width, picture.height);
    var font = Math.max(10, Math.round(size / 55));
    var root = R.svg('svg', { class: 'overlay', viewBox: '0 0 ' + picture.width + ' ' + picture.height, preserveAspectRatio: 'none', 'aria-hidden': 'true' });
    all.forEach(function (layer) {
      var group = R.svg('g', { class: 'layer ' + layer.className, 'data-layer': layer.className });
      layer.boxes.forEach(function (item) {
        var b = item.box;
        var rect = R.svg('rect', { class: 'box' + (item.faint ? ' faint' : ''), x: b.x, y: b.y, width: b.width, height: b.height, 'vector-effect': 'non-scaling-stroke' }, [R.svg('title', {}, [item.title || item.label || ''])]);
        group.appendChild(rect);
        if (item.label && !item.faint) {
          var y = b.y > font * 1.3 ? b.y - font * 0.3 : b.y + b.height + font;
          group.appendChild(R.svg('text', { class: 'box-label', x: b.x, y: y, 'font-size': font }, [item.label]));
        }
      });
      root.appendChild(group);
    });
    return root;
  }

  function toggles(all, figure) {
    if (all.length === 0) return el('p', { class: 'note', text: 'No boxes in the results of this image.' });
    return el('div', { class: 'toggles' }, all.map(function (layer) {
      var box = el('input', { type: 'checkbox', checked: true, 'data-layer': layer.className });
      box.addEventListener('change', function () {
        figure.classList.toggle('hide-' + layer.className, !box.checked);
      });
      return el('label', { class: 'toggle ' + layer.className }, [box, ' ' + layer.name + ' (' + layer.boxes.length + ')']);
    }));
  }

  function artefacts(record) {
    var shown = [];
    record.jobs.forEach(function (job) {
      job.artifacts.forEach(function (artefact) {
        if (!artefact.preview) return;
        shown.push(el('figure', { class: 'artefact ' + job.task }, [
          el('div', { class: 'checker' }, [el('img', { src: artefact.preview, alt: job.task + ' output' })]),
          el('figcaption', { text: job.task + ': ' + artefact.path }),
        ]));
      });
    });
    return shown;
  }

  function field(name, value) {
    return [el('dt', { text: name }), el('dd', {}, [value === null || value === undefined || value === '' ? '–' : value])];
  }

  /** Highlights of a result worth reading before the raw fields. */
  function highlights(job) {
    var r = job.result;
    if (!r || job.state !== 'done') return null;
    if (job.task === 'nsfw') return el('p', { class: 'highlight' }, ['verdict ', el('strong', { class: 'nsfw-' + r.verdict, text: r.verdict }), ', unsafe ' + r.unsafe + ', top class ' + r.top]);
    if (job.task === 'labels' && Array.isArray(r.labels)) {
      return el('p', { class: 'highlight' }, r.labels.map(function (label) {
        return el('a', { class: 'chip', href: R.galleryLink({ label: label.name }), text: label.name + ' ' + Number(label.confidence).toFixed(2) });
      }));
    }
    if (job.task === 'ocr') return el('pre', { class: 'ocr-text', text: r.text || '(no text found)' });
    if (job.task === 'faces') return el('p', { class: 'highlight', text: r.count + ' faces (' + r.faces.length + ' detections in all)' });
    return null;
  }

  /** Every field of a result, as JSON; long ones (OCR lines) start folded. */
  function resultFields(result) {
    var text = JSON.stringify(result, null, 2);
    return el('details', { open: text.length < 3000 }, [el('summary', { text: 'all result fields' }), el('pre', { class: 'json', text: text })]);
  }

  function jobSection(job) {
    var dl = el('dl', { class: 'fields' });
    R.append(dl, [].concat(
      field('state', el('span', { class: 'state ' + job.state, text: job.state })),
      field('attempts', job.attempts),
      field('task version', job.taskVersion),
      field('started', job.startedAt),
      field('finished', job.finishedAt),
      field('duration', job.durationMs === null ? null : R.number(job.durationMs, 1) + ' ms'),
      job.errorCode ? field('error', el('span', {}, [el('code', { text: job.errorCode }), ' ', job.errorMessage || ''])) : [],
      job.artifacts.length ? field('artefacts', job.artifacts.map(function (a) { return a.path; }).join('\n')) : [],
    ));
    return el('section', { class: 'job', id: 'job-' + job.task }, [
      el('h2', { text: job.task }),
      dl,
      highlights(job),
      job.result !== null ? resultFields(job.result) : null,
    ]);
  }

  function show(record, total) {
    document.title = 'imgpipe report: ' + record.key;
    var all = layers(record);
    var figure = el('figure', { class: 'picture', id: 'picture' });
    if (record.picture) {
      var frame = el('div', { class: 'frame' }, [el('img', { src: record.picture.preview, alt: record.key, id: 'preview' })]);
      frame.appendChild(overlay(record.picture, all));
      figure.appendChild(frame);
    } else {
      figure.appendChild(R.placeholder(record.pictureError));
      figure.appendChild(el('figcaption', { class: 'note', text: 'No picture: ' + (record.pictureError || 'unknown') }));
    }
    var nav = el('nav', { class: 'pager' }, [
      record.id > 0 ? el('a', { href: R.imageLink(record.id - 1), text: '‹ previous', id: 'previous' }) : null,
      el('span', { class: 'page-of', text: 'image ' + (record.id + 1) + ' of ' + total }),
      record.id + 1 < total ? el('a', { href: R.imageLink(record.id + 1), text: 'next ›', id: 'next' }) : null,
    ]);
    var main = el('main', {}, [
      nav,
      el('h1', { class: 'key', text: record.key }),
      el('dl', { class: 'fields identity' }, [].concat(field('path', record.path), field('sha256', record.sha256), record.picture ? field('size', record.picture.width + ' × ' + record.picture.height + ' px (upright)') : [])),
      el('div', { class: 'view' }, [el('div', {}, [figure, record.picture ? toggles(all, figure) : null])].concat(artefacts(record))),
    ].concat(record.jobs.length ? record.jobs.map(jobSection) : [el('p', { class: 'note', text: 'No jobs recorded for this image.' })]));
    R.clear(document.body);
    document.body.appendChild(R.header('image'));
    document.body.appendChild(main);
    window.scrollTo(0, 0);
  }

  function route() {
    var id = parseInt(new URLSearchParams(location.hash.slice(1)).get('id') || '0', 10);
    R.summary()
      .then(function (summary) {
        if (!(id >= 0 && id < summary.images)) throw new Error('no image #' + id + ' in this report');
        return R.chunk('images', Math.floor(id / summary.chunks.imagesPerChunk)).then(function (records) {
          var record = records.filter(function (r) { return r.id === id; })[0];
          if (!record) throw new Error('image #' + id + ' is missing from its data file');
          show(record, summary.images);
        });
      })
      .catch(R.fail);
  }

  window.addEventListener('hashchange', route);
  route();
})();
