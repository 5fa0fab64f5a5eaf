import { describe, expect, it } from 'vitest';
import { parseCommandEvent, parseCommandText } from './parse.ts';

const bot = new Set(['@recorder:localhost']);
const message = (body: string, extra: Record<string, unknown> = {}, sender = '@alice:localhost') => ({
  type: 'm.room.message',
  sender,
  content: { msgtype: 'm.text', body, ...extra },
});

describe('command parsing', () => {
  it('splits name and arguments, ignoring extra spaces and case of the name', () => {
    expect(parseCommandText('  !RECORD   audio  ')).toEqual({ name: 'record', args: ['audio'] });
    expect(parseCommandText('!help')).toEqual({ name: 'help', args: [] });
  });

  it('ignores text that is not a command', () => {
    expect(parseCommandText('hello !record')).toBeNull();
    expect(parseCommandText('!')).toBeNull();
    expect(parseCommandText('! record')).toBeNull();
  });

  it('reads the command after a reply fallback', () => {
    expect(parseCommandText('> <@bob:localhost> earlier\n\n!status')).toEqual({ name: 'status', args: [] });
  });

  it('ignores the bot itself, edits, notices and non-messages', () => {
    expect(parseCommandEvent(message('!help', {}, '@recorder:localhost'), bot)).toBeNull();
    expect(parseCommandEvent(message('* !help', { 'm.new_content': { body: '!help' } }), bot)).toBeNull();
    expect(parseCommandEvent(message('!help', { 'm.relates_to': { rel_type: 'm.replace', event_id: '$x' } }), bot)).toBeNull();
    expect(parseCommandEvent({ ...message('!help'), content: { msgtype: 'm.notice', body: '!help' } }, bot)).toBeNull();
    expect(parseCommandEvent({ type: 'm.room.topic', sender: '@a:b', content: {} }, bot)).toBeNull();
    expect(parseCommandEvent(message('!help'), bot)).toEqual({ name: 'help', args: [] });
  });
});
