# Pools the fwddrain runs of this directory: per backend, size and variant,
# the median of the same-round drain-rate ratios to "base" and the peak RSS
# (the highest of the 50 ms samples and, where recorded, VmHWM).
import json, statistics as st
runs = []
for f in ['ab1-forwarder-both.json', 'ab2-forwarder-franz.json', 'ab3-forwarder-franz-hwm.json']:
    for r in json.load(open(f)):
        r['file'] = f
        runs.append(r)
base = {(r['file'], r['Round'], r['Backend'], r['Size']): r['PerSec'] for r in runs if r['Variant'] == 'base'}
out = {}
for r in runs:
    b = base.get((r['file'], r['Round'], r['Backend'], r['Size']))
    o = out.setdefault((r['Backend'], r['Size'], r['Variant']), {'ratio': [], 'peak': [], 'hwm': []})
    if b:
        o['ratio'].append(r['PerSec'] / b)
    o['peak'].append(r['PeakRSS'] / 2**20)
    if r.get('HWM'):
        o['hwm'].append(max(r['HWM'], r['PeakRSS']) / 2**20)
print('| backend | size | variant | rounds | same-round ratio, median (min-max) | peak RSS of samples, median (max) | VmHWM, median (max; rounds) |')
print('|---|---|---|---|---|---|---|')
for k in sorted(out):
    o = out[k]
    h = '%.1f (%.1f; %d)' % (st.median(o['hwm']), max(o['hwm']), len(o['hwm'])) if o['hwm'] else '—'
    print('| %s | %d | %s | %d | %.2f (%.2f-%.2f) | %.1f (%.1f) | %s |' % (k[0], k[1], k[2], len(o['ratio']), st.median(o['ratio']),
          min(o['ratio']), max(o['ratio']), st.median(o['peak']), max(o['peak']), h))
