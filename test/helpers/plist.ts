/**
 * A strict reader of XML property lists as launchd reads them, for tests (there is no plutil off
 * macOS). Strict on purpose: what it accepts is a well-formed XML document with the XML
 * declaration, Apple's plist DOCTYPE, a root `<plist version="1.0">` holding one `<dict>`, and
 * only the value types launchd jobs use here: string, integer, true, false, array, dict. Keys and
 * values alternate in a dict and a key appears once; text outside <string>/<integer>/<key> must
 * be blank; entities are the five XML ones and character references; comments may not hold `--`.
 * Anything else throws PlistError with the line it found the problem on.
 */

export type PlistValue = string | number | boolean | PlistValue[] | PlistDict
export interface PlistDict { [key: string]: PlistValue }

export class PlistError extends Error {
  override name = 'PlistError'
}

interface XmlElement { name: string; attrs: Record<string, string>; children: XmlNode[]; at: number }
interface XmlText { text: string; at: number }
type XmlNode = XmlElement | XmlText

const XML_DECL = /^<\?xml\s+version\s*=\s*"1\.0"(\s+encoding\s*=\s*"UTF-8")?\s*\?>/i
const DOCTYPE = /^<!DOCTYPE\s+plist\s+PUBLIC\s+"-\/\/Apple\/\/DTD PLIST 1\.0\/\/EN"\s+"http:\/\/www\.apple\.com\/DTDs\/PropertyList-1\.0\.dtd"\s*>/
const NAME = /^[A-Za-z_][A-Za-z0-9._-]*/
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

/** Parse a launchd plist: the root dict. */
export function parsePlist(xml: string): PlistDict {
  const root = new XmlReader(xml).document()
  const fail = (node: XmlNode, msg: string): never => { throw new PlistError(`line ${lineOf(xml, node.at)}: ${msg}`) }
  if (root.name !== 'plist') fail(root, `root element is <${root.name}>, not <plist>`)
  if (Object.keys(root.attrs).join() !== 'version' || root.attrs.version !== '1.0') fail(root, '<plist> must have exactly version="1.0"')
  const [top, ...more] = elementsOf(root, fail)
  if (!top || more.length > 0) fail(root, '<plist> must hold exactly one value')
  if (top!.name !== 'dict') fail(top!, `the root value is <${top!.name}>, not <dict>`)
  return valueOf(top!, fail) as PlistDict
}

type Fail = (node: XmlNode, msg: string) => never

function elementsOf(el: XmlElement, fail: Fail): XmlElement[] {
  for (const c of el.children) if ('text' in c && c.text.trim() !== '') fail(c, `text "${c.text.trim().slice(0, 20)}" inside <${el.name}>`)
  return el.children.filter((c): c is XmlElement => 'name' in c)
}

function textOf(el: XmlElement, fail: Fail): string {
  const child = el.children.find((c) => 'name' in c)
  if (child) fail(child, `<${(child as XmlElement).name}> inside <${el.name}>, which holds text only`)
  return el.children.map((c) => (c as XmlText).text).join('')
}

function valueOf(el: XmlElement, fail: Fail): PlistValue {
  if (Object.keys(el.attrs).length > 0) fail(el, `<${el.name}> takes no attributes`)
  switch (el.name) {
    case 'string':
      return textOf(el, fail)
    case 'integer': {
      const text = textOf(el, fail).trim()
      const n = Number(text)
      if (!/^[+-]?\d+$/.test(text) || !Number.isSafeInteger(n)) fail(el, `"${text}" is not an integer`)
      return n
    }
    case 'true':
    case 'false':
      if (el.children.length > 0) fail(el, `<${el.name}/> must be empty`)
      return el.name === 'true'
    case 'array':
      return elementsOf(el, fail).map((c) => valueOf(c, fail))
    case 'dict': {
      const dict: PlistDict = {}
      const items = elementsOf(el, fail)
      for (let i = 0; i < items.length; i += 2) {
        const key = items[i]!
        const value = items[i + 1]
        if (key.name !== 'key') fail(key, `<${key.name}> where a dict expects <key>`)
        if (Object.keys(key.attrs).length > 0) fail(key, '<key> takes no attributes')
        const name = textOf(key, fail)
        if (name === '') fail(key, 'empty <key>')
        if (Object.hasOwn(dict, name)) fail(key, `duplicate key "${name}"`)
        if (!value) fail(key, `key "${name}" has no value`)
        if (value!.name === 'key') fail(value!, `key "${name}" is followed by another key, not a value`)
        dict[name] = valueOf(value!, fail)
      }
      return dict
    }
    default:
      return fail(el, `<${el.name}> is not a plist value (string, integer, true, false, array, dict)`)
  }
}

function lineOf(src: string, at: number): number {
  let line = 1
  for (let i = 0; i < at && i < src.length; i++) if (src.charCodeAt(i) === 10) line++
  return line
}

/** Just enough of XML 1.0 for plists: elements, attributes, text, entities, comments, CDATA. */
class XmlReader {
  private pos = 0
  constructor(private readonly src: string) {
    const bad = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.exec(src)
    if (bad) this.fail(`character U+${bad[0].codePointAt(0)!.toString(16).padStart(4, '0')} is not allowed in XML`, bad.index)
  }

  private fail(msg: string, at = this.pos): never {
    throw new PlistError(`line ${lineOf(this.src, at)}: ${msg}`)
  }

  private rest(): string {
    return this.src.slice(this.pos)
  }

  document(): XmlElement {
    const decl = XML_DECL.exec(this.src)
    if (!decl) this.fail('the document must start with <?xml version="1.0" encoding="UTF-8"?>')
    this.pos = decl![0].length
    this.misc()
    const doctype = DOCTYPE.exec(this.rest())
    if (!doctype) this.fail('missing or wrong DOCTYPE (expected Apple\'s "-//Apple//DTD PLIST 1.0//EN")')
    this.pos += doctype![0].length
    this.misc()
    if (!this.rest().startsWith('<')) this.fail('expected the root element')
    const root = this.element()
    this.misc()
    if (this.pos < this.src.length) this.fail('content after the root element')
    return root
  }

  /** Blanks and comments (between prolog parts, and around the root). */
  private misc(): void {
    for (;;) {
      const ws = /^\s*/.exec(this.rest())![0]
      this.pos += ws.length
      if (this.rest().startsWith('<!--')) this.comment()
      else return
    }
  }

  private comment(): void {
    const start = this.pos
    const end = this.src.indexOf('-->', start + 4)
    if (end < 0) this.fail('unterminated comment', start)
    const body = this.src.slice(start + 4, end)
    if (body.includes('--') || body.endsWith('-')) this.fail('"--" inside a comment', start)
    this.pos = end + 3
  }

  private element(): XmlElement {
    const at = this.pos
    this.pos++ // <
    const name = NAME.exec(this.rest())?.[0]
    if (!name) this.fail('expected an element name')
    this.pos += name!.length
    const attrs: Record<string, string> = {}
    for (;;) {
      const ws = /^\s*/.exec(this.rest())![0]
      this.pos += ws.length
      if (this.rest().startsWith('/>')) {
        this.pos += 2
        return { name: name!, attrs, children: [], at }
      }
      if (this.rest().startsWith('>')) {
        this.pos++
        break
      }
      if (ws === '') this.fail(`malformed start tag <${name}>`)
      const attr = /^([A-Za-z_][A-Za-z0-9._:-]*)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/.exec(this.rest())
      if (!attr) this.fail(`malformed attribute in <${name}>`)
      if (Object.hasOwn(attrs, attr![1]!)) this.fail(`duplicate attribute ${attr![1]}`)
      attrs[attr![1]!] = this.decode(attr![2] ?? attr![3]!, this.pos)
      this.pos += attr![0].length
    }
    const children: XmlNode[] = []
    for (;;) {
      const rest = this.rest()
      if (rest === '') this.fail(`<${name}> is never closed`, at)
      if (rest.startsWith('</')) {
        const end = /^<\/([A-Za-z_][A-Za-z0-9._-]*)\s*>/.exec(rest)
        if (!end) this.fail('malformed end tag')
        if (end![1] !== name) this.fail(`</${end![1]}> closes <${name}>`)
        this.pos += end![0].length
        return { name: name!, attrs, children, at }
      }
      if (rest.startsWith('<!--')) {
        this.comment()
      } else if (rest.startsWith('<![CDATA[')) {
        const end = this.src.indexOf(']]>', this.pos)
        if (end < 0) this.fail('unterminated CDATA section')
        children.push({ text: this.src.slice(this.pos + 9, end), at: this.pos })
        this.pos = end + 3
      } else if (rest.startsWith('<!') || rest.startsWith('<?')) {
        this.fail('declarations and processing instructions are not allowed inside elements')
      } else if (rest.startsWith('<')) {
        children.push(this.element())
      } else {
        const raw = /^[^<]*/.exec(rest)![0]
        if (raw.includes(']]>')) this.fail('"]]>" in text')
        children.push({ text: this.decode(raw, this.pos), at: this.pos })
        this.pos += raw.length
      }
    }
  }

  private decode(raw: string, at: number): string {
    return raw.replace(/&([^;&\s]*);?/g, (whole, ref: string, offset: number) => {
      if (!whole.endsWith(';')) this.fail('bare "&" (write &amp;)', at + offset)
      if (Object.hasOwn(ENTITIES, ref)) return ENTITIES[ref]!
      const num = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(ref)
      const code = num ? parseInt(num[1] ?? num[2]!, num[1] ? 16 : 10) : NaN
      if (!Number.isFinite(code)) this.fail(`unknown entity &${ref};`, at + offset)
      if (code > 0x10ffff || (code < 0x20 && code !== 9 && code !== 10 && code !== 13)) this.fail(`&${ref}; is not an XML character`, at + offset)
      return String.fromCodePoint(code)
    })
  }
}
