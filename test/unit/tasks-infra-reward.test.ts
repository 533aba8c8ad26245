// The paper's reward, term by term. Completions are the text after the prefilled `<think>`.
import { describe, expect, it } from 'vitest';
import { task as chainSum } from '../../src/tasks/chain_sum.ts';
import { computeReward, PAPER_REWARD, REWARD_PRESETS } from '../../src/tasks/reward.ts';
import type { TaskDefinition, TaskEntry } from '../../src/tasks/types.ts';

const entry: TaskEntry = {
  question: 'State the final answer to the following arithmetic problem: 13 - 88 + 59 - 58 + 51 =',
  answer: '-23',
  metadata: { source_dataset: 'chain_sum', source_index: 0 },
};

/** `n` words spread over several lines. */
function words(n: number): string {
  const w = Array.from({ length: n }, (_, i) => `w${i}`);
  const lines: string[] = [];
  for (let i = 0; i < w.length; i += 10) lines.push(w.slice(i, i + 10).join(' '));
  return lines.join('\n');
}

const ideal = (reasoning: string, answer = '-23') => `${reasoning}\n</think>\n<answer>\n${answer}\n</answer>`;

describe('computeReward', () => {
  it('gives the maximum 3.75 to a well-formed correct answer with 250 words', () => {
    const r = computeReward(ideal(words(250)), chainSum, entry);
    expect(r).toMatchObject({
      answer: '-23',
      score: 1,
      correctness: 2,
      format: 0.5,
      wordCount: 0.5,
      words: 250,
      thinkClose: 0.5,
      answerOpen: 0.125,
      answerClose: 0.125,
      trailing: 0,
      trailingChars: 0,
    });
    expect(r.total).toBe(3.75);
    expect(r.error).toBeUndefined();
  });

  it('counts words of the reasoning only, 200-400 inclusive', () => {
    const wc = (n: number) => computeReward(ideal(words(n)), chainSum, entry).wordCount;
    expect([wc(199), wc(200), wc(400), wc(401)]).toEqual([0, 0.5, 0.5, 0]);
    // words after </think> do not count
    expect(
      computeReward(`${words(10)}\n</think>\n<answer>\n${words(300)}\n</answer>`, chainSum, entry).words,
    ).toBe(10);
  });

  it('turns the word-count term off in the tiny preset', () => {
    const r = computeReward(ideal(words(250)), chainSum, entry, 'tiny');
    expect(r.wordCount).toBe(0);
    expect(r.total).toBe(3.25);
    expect(REWARD_PRESETS.tiny.wordCountWeight).toBe(0);
  });

  it('scores a wrong answer 0 for correctness but keeps the format terms', () => {
    const r = computeReward(ideal('short', '-22'), chainSum, entry);
    expect(r.correctness).toBe(0);
    expect(r.format).toBe(0.5);
    expect(r.total).toBe(0.5 + 0.5 + 0.125 + 0.125);
  });

  it('gives no format or XML terms when the tags are missing', () => {
    const r = computeReward('I think it is -23.', chainSum, entry);
    expect(r.answer).toBeNull();
    expect([r.score, r.format, r.thinkClose, r.answerOpen, r.answerClose, r.trailing]).toEqual([
      0, 0, 0, 0, 0, 0,
    ]);
    expect(r.words).toBe(5); // without </think> the whole text is reasoning
    expect(r.total).toBe(0);
  });

  it('uses the last of two answer blocks and drops the once-only XML terms', () => {
    const c = 'r\n</think>\n<answer>\n-22\n</answer>\n<answer>\n-23\n</answer>';
    const r = computeReward(c, chainSum, entry);
    expect(r.answer).toBe('-23');
    expect(r.score).toBe(1);
    expect(r.format).toBe(0.5);
    expect(r.answerOpen).toBe(0);
    expect(r.answerClose).toBe(0);
    expect(r.thinkClose).toBe(0.5);
  });

  it('penalises each character after the final </answer> and loses the format term on text', () => {
    const r = computeReward(ideal('r') + '\nThanks!', chainSum, entry);
    expect(r.trailingChars).toBe(8);
    expect(r.trailing).toBeCloseTo(-0.008, 12);
    expect(r.format).toBe(0);
    // whitespace after the block keeps the format term but still costs 0.001 per character
    const ws = computeReward(ideal('r') + '\n', chainSum, entry);
    expect(ws.format).toBe(0.5);
    expect(ws.trailing).toBeCloseTo(-0.001, 12);
    // trailing length is in code points: one emoji is one character
    expect(computeReward(ideal('r') + '😀', chainSum, entry).trailingChars).toBe(1);
  });

  it('needs the newlines for the XML terms but not for the format term', () => {
    const r = computeReward('r</think><answer>-23</answer>', chainSum, entry);
    expect([r.format, r.thinkClose, r.answerOpen, r.answerClose]).toEqual([0.5, 0, 0, 0]);
    expect(r.correctness).toBe(2);
    // exactly one "\n</think>\n": a second closing tag loses the term
    expect(computeReward('a\n</think>\nb\n</think>\n<answer>-23</answer>', chainSum, entry).thinkClose).toBe(
      0,
    );
  });

  it('gives partial credit by default and none with strict', () => {
    const c = ideal('r', 'The answer is -23');
    expect(computeReward(c, chainSum, entry).score).toBe(3 / 17);
    expect(computeReward(c, chainSum, entry, { strict: true }).score).toBe(0);
  });

  it('reports a scoring error as 0 with the error, from a result or a throw', () => {
    const raising: TaskDefinition = {
      ...chainSum,
      score: () => ({ score: 0, error: 'ValueError: bad' }),
    } as TaskDefinition;
    const r = computeReward(ideal('r'), raising, entry);
    expect(r.error).toBe('ValueError: bad');
    expect(r.correctness).toBe(0);
    expect(r.total).toBe(1.25);
    const crashing: TaskDefinition = {
      ...chainSum,
      score: () => {
        throw new TypeError('oops');
      },
    } as TaskDefinition;
    const c = computeReward(ideal('r'), crashing, entry);
    expect(c.error).toBe('TypeError: oops');
    expect(c.score).toBe(0);
  });

  it('takes each weight from the settings', () => {
    const r = computeReward(ideal(words(250)), chainSum, entry, {
      correctnessWeight: 1,
      formatWeight: 0,
      thinkCloseWeight: 0.25,
      minWords: 300,
    });
    expect([r.correctness, r.format, r.thinkClose, r.wordCount]).toEqual([1, 0, 0.25, 0]);
    expect(PAPER_REWARD.correctnessWeight).toBe(2);
  });
});
