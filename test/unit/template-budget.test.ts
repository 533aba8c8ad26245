// Issue 15 probes for chat templates: a template is a program that ships with the model, so rendering it
// runs under a step / depth / output / list budget and ends in a typed one-line error when it runs over.
import { Template } from '@huggingface/jinja';
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engine/errors.ts';
import { buildByteTokenizer, QWEN_STYLE_CHAT_TEMPLATE } from '../../src/engine/model/byteTokenizer.ts';
import { DEFAULT_CHAT_TEMPLATE_LIMITS, renderChatTemplate } from '../../src/engine/model/chatTemplate.ts';
import { type ChatTemplateOptions, Tokenizer } from '../../src/engine/model/tokenizer.ts';

const MESSAGES = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'What is 2 + 3?' },
];

function tokenizerWith(chatTemplate: string, asJinjaFile = false): Tokenizer {
  const built = buildByteTokenizer({ chatTemplate });
  return Tokenizer.fromJson(built.tokenizerJson, built.tokenizerConfig, asJinjaFile ? { chatTemplate } : {});
}

function budgetError(template: string, options: ChatTemplateOptions = {}, asJinjaFile = false): EngineError {
  const tok = tokenizerWith(template, asJinjaFile);
  let caught: unknown;
  try {
    tok.applyChatTemplate(MESSAGES, options);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(EngineError);
  const e = caught as EngineError;
  expect(e.code).toBe('template-budget');
  const file = asJinjaFile ? 'chat_template.jinja' : 'tokenizer_config.json';
  expect(e.file).toBe(file);
  expect(e.message.startsWith(`${file}: the chat template `)).toBe(true);
  expect(e.message).not.toContain('\n');
  return e;
}

describe('chat template budget', () => {
  it('range(10000000) is refused before the list is built', () => {
    const e = budgetError('{% for i in range(10000000) %}x{% endfor %}');
    expect(e.message).toContain('range() for 10000000 values');
  });

  it('a computed range bound is caught too, and the file is named for chat_template.jinja', () => {
    const e = budgetError('{% set n = 50000 %}{% for i in range(n * n) %}{% endfor %}', {}, true);
    expect(e.message).toContain('range()');
  });

  it('nested loops run into the step budget', () => {
    const e = budgetError(
      '{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}{% endfor %}{% endfor %}{% endfor %}',
      { limits: { ...DEFAULT_CHAT_TEMPLATE_LIMITS, maxSteps: 50_000 } },
    );
    expect(e.message).toContain('50000 evaluation steps');
  });

  it('a string doubled in a loop runs into the output budget', () => {
    const e = budgetError(
      "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
    );
    expect(e.message).toContain(`string over ${DEFAULT_CHAT_TEMPLATE_LIMITS.maxOutputChars} characters`);
  });

  it('a list doubled in a loop runs into the list budget', () => {
    const e = budgetError(
      '{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}',
    );
    expect(e.message).toContain('list over');
  });

  it('unbounded macro recursion runs into the depth budget', () => {
    const e = budgetError('{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}');
    expect(e.message).toContain(`deeper than ${DEFAULT_CHAT_TEMPLATE_LIMITS.maxDepth}`);
  });

  it('a caller variable named range cannot replace the bounded one (refused, as by Template.render)', () => {
    const tok = tokenizerWith('{% for i in range(10000000) %}{% endfor %}');
    const options = { extra: { range: (n: number) => [n] } };
    expect(() => tok.applyChatTemplate(MESSAGES, options)).toThrow(EngineError);
    expect(() => tok.applyChatTemplate(MESSAGES, options)).toThrow('already declared: range');
  });

  it('scanning a long string over and over runs into the work budget', () => {
    const e = budgetError(
      "{% set ns = namespace(s='x') %}{% for i in range(22) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{% for i in range(10000) %}{{ 'y' in ns.s }}{% endfor %}",
    );
    expect(e.message).toContain('characters and list elements in all');
  });
});

describe('budgeted rendering matches the library', () => {
  const templates = [
    QWEN_STYLE_CHAT_TEMPLATE,
    "{%- for m in messages %}{{ loop.index0 }}:{{ m.role | upper }}={{ m.content | tojson }}{% if not loop.last %}, {% endif %}{% endfor %}{{ range(3) | list | join('-') }}{{ range(10, 0, -3) | join(',') }}",
    "{% set ns = namespace(n=0) %}{% for m in messages if m.role == 'user' %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}{{ none is none }}{{ True and not False }}",
    "{{ strftime_now('%Y') | length }}",
  ];
  for (const [i, text] of templates.entries()) {
    it(`template ${i} renders as Template.render does`, () => {
      const vars = { messages: MESSAGES, add_generation_prompt: true, bos_token: '<s>' };
      const ours = renderChatTemplate(new Template(text), vars, 'test.jinja');
      expect(ours).toBe(new Template(text).render(vars));
      expect(ours.length).toBeGreaterThan(0);
    });
  }

  it('raise_exception still fails as an untyped template failure, wrapped as invalid-argument', () => {
    const tok = tokenizerWith("{{ raise_exception('no system role') }}");
    expect(() => tok.applyChatTemplate(MESSAGES)).toThrow(/no system role/);
    try {
      tok.applyChatTemplate(MESSAGES);
    } catch (e) {
      expect((e as EngineError).code).toBe('invalid-argument');
    }
  });
});
