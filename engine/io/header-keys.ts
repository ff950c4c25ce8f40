// Top-level key order of a JSON object text. JSON.parse moves integer-like keys ("0", "17") to the front
// of an object, so a state dict named like that would lose its file order; duplicates would silently
// keep only the last value. This scan sees the keys exactly as written. Call it only on text that
// JSON.parse has already accepted.

export function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let i = 0;
  while (i < json.length) {
    const c = json[i];
    if (c === '"') {
      const start = i;
      i++;
      while (json[i] !== '"') i += json[i] === '\\' ? 2 : 1;
      i++;
      if (depth === 1) {
        let j = i;
        while (j < json.length && ' \t\r\n'.includes(json[j])) j++;
        if (json[j] === ':') keys.push(JSON.parse(json.slice(start, i)) as string);
      }
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    i++;
  }
  return keys;
}
