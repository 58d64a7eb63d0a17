import re, statistics as st, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 5: continue
    rnd, size, be, var = f[:4]
    m = re.search(r'([\d.]+) pictures/s', line)
    if not m: continue
    rows[(int(rnd), size, be, var)] = float(m.group(1))
out = {}
for (rnd, size, be, var), v in rows.items():
    o = rows.get((rnd, size, be, 'old'))
    out.setdefault((size, be, var), []).append((rnd, v, v / o if o else float('nan')))
print('| size | client | variant | rounds | pictures/s, median (each) | same-round ratio to old, median (each) |')
print('|---|---|---|---|---|---|')
for k in sorted(out, key=lambda k: (k[0] != '1280x720', k[1], ['old', 'fetch1m', 'fetch4m'].index(k[2]))):
    xs = sorted(out[k])
    print('| %s | %s | %s | %d | %.0f (%s) | %.2f (%s) |' % (k[0], k[1], k[2], len(xs), st.median(x[1] for x in xs), ', '.join('%.0f' % x[1] for x in xs),
        st.median(x[2] for x in xs), ', '.join('%.2f' % x[2] for x in xs)))
