// sensornode viewer: the wall refreshes its tiles from /api/wall without
// reloading the page. Without JavaScript the page's Refresh link does it.
(function () {
  'use strict';
  var wall = document.getElementById('wall');
  if (!wall || !window.fetch) {
    return;
  }
  var every = (parseInt(wall.getAttribute('data-refresh'), 10) || 10) * 1000;
  var status = document.getElementById('wall-status');

  function cameras() {
    var out = [];
    wall.querySelectorAll('figure.tile').forEach(function (f) {
      out.push(f.getAttribute('data-camera'));
    });
    return out.join(',');
  }

  function update(t) {
    var fig = wall.querySelector('figure.tile[data-camera="' + t.camera + '"]');
    if (!fig) {
      return false;
    }
    var img = fig.querySelector('img');
    if (!t.thumb) {
      return !img;
    }
    if (!img) {
      return false;
    }
    if (img.getAttribute('src') === t.thumb) {
      return true;
    }
    // Load the new picture first, then swap: no flicker.
    var next = new Image();
    next.onload = function () {
      img.src = t.thumb;
      img.alt = t.alt;
      fig.querySelector('figcaption').textContent = t.caption;
    };
    next.src = t.thumb;
    return true;
  }

  function schedule() {
    window.setTimeout(tick, every);
  }

  function tick() {
    if (document.hidden) {
      schedule();
      return;
    }
    fetch('/api/wall', { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (r) {
        if (r.status === 401) {
          window.location.assign('/login');
          return null;
        }
        return r.ok ? r.json() : null;
      })
      .then(function (data) {
        if (!data) {
          return;
        }
        var names = data.tiles.map(function (t) { return t.camera; }).join(',');
        var ok = names === cameras();
        data.tiles.forEach(function (t) {
          ok = update(t) && ok;
        });
        if (!ok) {
          // A camera came or went, or got its first picture.
          window.location.reload();
          return;
        }
        if (status) {
          status.textContent = 'As of ' + new Date().toISOString().replace('T', ' ').slice(0, 19) + ' UTC.';
        }
      })
      .catch(function () {})
      .then(schedule);
  }

  schedule();
})();
