/**
 * The demo's instruction set, written for this project: capitals of countries, one short answer each.
 * A tiny model with random weights cannot know them; after LoRA fine-tuning it answers them.
 */
export const DEMO_FACTS: [country: string, capital: string][] = [
  ['France', 'Paris'],
  ['Japan', 'Tokyo'],
  ['Italy', 'Rome'],
  ['Egypt', 'Cairo'],
  ['Peru', 'Lima'],
  ['Kenya', 'Nairobi'],
  ['Norway', 'Oslo'],
  ['Chile', 'Santiago'],
  ['Spain', 'Madrid'],
  ['Cuba', 'Havana'],
  ['Nepal', 'Kathmandu'],
  ['Ghana', 'Accra'],
];

export function demoRows() {
  return DEMO_FACTS.flatMap(([country, capital]) => [
    { instruction: `What is the capital of ${country}?`, input: '', output: `${capital}.` },
    { instruction: 'Name the capital city.', input: country, output: `${capital}.` },
  ]);
}
