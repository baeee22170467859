/* The summary page: counts per task and state, runs and throughput, failures, histograms, duplicates. */
(function () {
  'use strict';
  var R = window.imgpipeReport;
  var el = R.el;

  function section(title, children, note) {
    return el('section', {}, [el('h2', { text: title }), note ? el('p', { class: 'note', text: note }) : null].concat(children));
  }

  function table(head, rows, numeric) {
    return el('table', {}, [
      el('thead', {}, [el('tr', {}, head.map(function (cell, i) {
        return el('th', { class: numeric && numeric[i] ? 'num' : undefined, text: cell });
      }))]),
      el('tbody', {}, rows.map(function (row) {
        return el('tr', {}, row.map(function (cell, i) {
          return el('td', { class: numeric && numeric[i] ? 'num' : undefined }, [cell]);
        }));
      })),
    ]);
  }

  function countLink(value, filters) {
    return value > 0 ? el('a', { href: R.galleryLink(filters), text: R.number(value, 0) }) : '0';
  }

  /** A horizontal bar chart whose rows link to the gallery filtered on them. */
  function histogram(pairs, filter, empty) {
    if (pairs.length === 0) return el('p', { class: 'note', text: empty });
    var max = pairs[0][1];
    pairs.forEach(function (pair) {
      max = Math.max(max, pair[1]);
    });
    return el('div', { class: 'bars' }, pairs.slice(0, 40).map(function (pair) {
      var filters = {};
      filters[filter] = pair[0];
      return el('a', { class: 'bar', href: R.galleryLink(filters), title: pair[0] + ': ' + pair[1] + ' images' }, [
        el('span', { class: 'bar-name', text: pair[0] }),
        el('span', { class: 'bar-track' }, [el('span', { class: 'bar-fill', style: { width: ((100 * pair[1]) / max).toFixed(1) + '%' } })]),
        el('span', { class: 'bar-count', text: R.number(pair[1], 0) }),
      ]);
    }));
  }

  function tasks(summary) {
    if (summary.tasks.length === 0) return el('p', { class: 'note', text: 'No jobs in this ledger yet.' });
    return table(
      ['task', 'pending', 'running', 'done', 'failed', 'mean time a job'],
      summary.tasks.map(function (t) {
        return [
          el('a', { href: R.galleryLink({ task: t.task }), text: t.task }),
          countLink(t.pending, { task: t.task, state: 'pending' }),
          countLink(t.running, { task: t.task, state: 'running' }),
          countLink(t.done, { task: t.task, state: 'done' }),
          countLink(t.failed, { task: t.task, state: 'failed' }),
          t.meanMs === null ? '–' : R.number(t.meanMs, 1) + ' ms',
        ];
      }),
      [false, true, true, true, true, true],
    );
  }

  function runs(summary) {
    if (summary.runs.length === 0) return el('p', { class: 'note', text: 'No runs recorded.' });
    return table(
      ['run', 'started', 'status', 'tasks', 'shard', 'host', 'duration', 'jobs', 'jobs/s'],
      summary.runs.map(function (run) {
        return ['#' + run.id, run.startedAt, run.status, run.tasks, run.shard || '', run.host, run.durationMs === null ? '–' : R.number(run.durationMs / 1000, 1) + ' s', R.number(run.jobs, 0), R.number(run.jobsPerSecond, 1)];
      }),
      [false, false, false, false, false, false, true, true, true],
    );
  }

  function failures(summary) {
    if (summary.failures.length === 0) return el('p', { class: 'note', text: 'No failed jobs.' });
    return table(
      ['task', 'code', 'jobs', 'examples'],
      summary.failures.map(function (group) {
        return [
          group.task,
          el('code', { text: group.code }),
          countLink(group.count, { task: group.task, state: 'failed' }),
          el('ul', { class: 'examples' }, group.examples.map(function (example) {
            return el('li', {}, [el('a', { href: R.imageLink(example.id), text: example.key }), ': ', el('span', { class: 'message', text: example.message })]);
          })),
        ];
      }),
      [false, false, true, false],
    );
  }

  function duplicates(summary) {
    var d = summary.duplicates;
    if (d.groups.length === 0) return [el('p', { class: 'note', text: 'No duplicates: no two images share their bytes, or their perceptual hashes (meta) are all far apart.' })];
    return [el('p', { text: d.exactGroups + ' groups of exact copies (same bytes), ' + d.nearGroups + ' groups of near copies (perceptual hash within 6 bits).' + (d.groups.length < d.exactGroups + d.nearGroups ? ' The largest ' + d.groups.length + ' are shown.' : '') })].concat(
      d.groups.map(function (group) {
        return el('div', { class: 'dup-group' }, [
          el('span', { class: 'dup-kind', text: group.kind === 'exact' ? 'exact' : 'near (' + group.distance + ' bits)' }),
          el('div', { class: 'dup-images' }, group.images.slice(0, 12).map(function (image) {
            return el('a', { href: R.imageLink(image.id), title: image.key, class: 'dup-image' }, [
              image.thumb ? el('img', { src: image.thumb, alt: image.key, loading: 'lazy' }) : R.placeholder(),
              el('span', { text: image.key }),
            ]);
          })),
          group.images.length > 12 ? el('span', { class: 'note', text: '+' + (group.images.length - 12) + ' more' }) : null,
        ]);
      }),
    );
  }

  R.summary()
    .then(function (summary) {
      var failed = 0;
      var jobs = 0;
      summary.tasks.forEach(function (t) {
        failed += t.failed;
        jobs += t.pending + t.running + t.done + t.failed;
      });
      document.body.appendChild(R.header('summary'));
      var main = el('main', {}, [
        el('h1', { text: 'Summary' }),
        el('p', { class: 'lede' }, [
          el('strong', { text: R.number(summary.images, 0) + ' images' }),
          ', ' + R.number(jobs, 0) + ' jobs, ',
          el('a', { href: R.galleryLink({ state: 'failed' }), text: R.number(failed, 0) + ' failed' }),
          '. Ledger ' + summary.ledger + ', report made ' + summary.generatedAt + '.',
        ]),
        section('Tasks', [tasks(summary)], 'Jobs per task and state; a number opens the gallery on those images.'),
        section('Runs and throughput', [runs(summary)]),
        section('Failures by code', [failures(summary)]),
        el('div', { class: 'columns' }, [
          section('Labels', [histogram(summary.labels, 'label', 'No labels results.')], 'Images per label (labels task).'),
          section('Object classes', [histogram(summary.objects, 'object', 'No objects results.')], 'Images with at least one object of the class.'),
          section('NSFW verdicts', [histogram(summary.nsfw, 'nsfw', 'No nsfw results.')]),
          section('Faces per image', [histogram(summary.faces, 'faces', 'No faces results.')]),
          section('Logos', [histogram(summary.logos, 'logo', 'No logos results.')]),
        ]),
        section('Duplicate groups', duplicates(summary)),
        el('p', { class: 'note', text: 'Pictures: thumbnails ' + summary.pictures.thumbSize + ' px, previews ' + summary.pictures.previewSize + ' px; ' + summary.pictures.made + ' made, ' + summary.pictures.reused + ' reused, ' + summary.pictures.failed + ' could not be made' + (summary.pictures.missingArtefacts ? ', ' + summary.pictures.missingArtefacts + ' artefacts not found under --out' : '') + '.' }),
      ]);
      document.body.appendChild(main);
    })
    .catch(R.fail);
})();
