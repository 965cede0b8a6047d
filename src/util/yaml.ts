import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';

/** A YAML document with what is needed to point at a line. */
export interface YamlSource {
  file: string;
  doc: Document;
  lines: LineCounter;
}

export class YamlSyntaxError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'YamlSyntaxError';
  }
}

/** Parse YAML text, throwing every syntax problem as `file:line:col: message`. */
export function parseYaml(text: string, file: string): YamlSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new YamlSyntaxError(
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return `${file}:${pos.line}:${pos.col}: ${e.message.split('\n')[0]}`;
      }),
    );
  }
  return { file, doc, lines };
}

/** `line:col` of the deepest node that exists along `path`, or undefined when none of it does. */
export function positionOf(source: YamlSource, path: (string | number)[]): string | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? source.doc.contents : source.doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) {
      const pos = source.lines.linePos(node.range[0]);
      return `${pos.line}:${pos.col}`;
    }
  }
  return undefined;
}

/** Whether the document defines exactly this path (used to tell which layered file set a value). */
export function defines(source: YamlSource, path: (string | number)[]): boolean {
  return path.length > 0 && source.doc.hasIn(path);
}

/** Render schema issues as `where: dotted.path: message` lines. */
export function formatIssues(
  issues: z.core.$ZodIssue[],
  where: (path: (string | number)[]) => string,
  prefix = '',
): string[] {
  return issues.map((issue) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const name = prefix + (path.length > 0 ? path.join('.') : '(top level)');
    let message = issue.message;
    if (issue.code === 'unrecognized_keys')
      message = `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    return `${where(path)}: ${name}: ${message}`;
  });
}
