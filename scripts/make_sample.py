"""Write resources/sample_questions.csv: the bundled demo file (written by the project).

Each group below holds questions that mean the same thing; singletons are distractors that
share words with a group but ask something else. The CSV keeps the group in a column
(`paraphrase_group`, empty for singletons) so tests and demos can score what mining finds.
Run: python scripts/make_sample.py
"""

import csv
import random
from pathlib import Path

GROUPS = [
    ["How do I learn Python quickly?", "What is the fastest way to learn Python?", "How can I learn Python programming fast?"],
    ["How can I lose weight without going to the gym?", "What are ways to lose weight without a gym membership?"],
    ["What is the best way to save money on groceries?", "How can I spend less money on groceries?", "How do I cut my grocery bill?"],
    ["How do I improve my English speaking skills?", "How can I speak English more fluently?"],
    ["Why is the sky blue?", "What makes the sky look blue?"],
    ["How do I get a job at Google?", "What does it take to get hired by Google?"],
    ["What are the health benefits of green tea?", "Is green tea good for your health?"],
    ["How do I stop procrastinating?", "How can I overcome procrastination?", "What can I do to stop putting things off?"],
    ["What is the difference between a virus and bacteria?", "How are viruses different from bacteria?"],
    ["How can I become a better writer?", "What should I do to improve my writing?"],
    ["Which is the best laptop for programming under $1000?", "What is a good laptop for coding that costs less than 1000 dollars?"],
    ["How do I make my phone battery last longer?", "How can I improve my smartphone's battery life?"],
    ["What is machine learning?", "Can someone explain machine learning in simple terms?"],
    ["How do I start investing in the stock market?", "How can a beginner start investing in stocks?"],
    ["Is it safe to drink tap water in Mexico?", "Can you drink the tap water in Mexico?"],
    ["How do I get rid of acne scars?", "What is the best way to remove acne scars?"],
    ["What are the best books to read in your twenties?", "Which books should everyone read in their 20s?"],
    ["How do I fall asleep faster?", "What can I do to fall asleep more quickly at night?", "How can I get to sleep faster?"],
    ["Why do cats purr?", "What is the reason cats purr?"],
    ["How do I prepare for a job interview?", "What is the best way to prepare for an interview?"],
    ["What is the meaning of life?", "What is the purpose of life?"],
    ["How can I increase my productivity while working from home?", "How do I stay productive when working remotely?"],
    ["How does a blockchain work?", "Can you explain how blockchain technology works?"],
    ["What should I do if my dog eats chocolate?", "My dog ate chocolate, what should I do?"],
    ["How do I make friends in a new city?", "What is the best way to meet people after moving to a new city?"],
    ["Why is my computer so slow?", "What can make a computer run slowly?"],
    ["How can I improve my credit score?", "What are the fastest ways to raise a credit score?"],
    ["What is the best programming language for beginners?", "Which programming language should I learn first?"],
    ["How do I deal with anxiety?", "What are good ways to cope with anxiety?"],
    ["How do airplanes stay in the air?", "What keeps an airplane up in the sky?"],
    ["How long does it take to learn to play the guitar?", "How many months does it take to get good at guitar?"],
    ["What are the symptoms of vitamin D deficiency?", "How do I know if I am low on vitamin D?"],
    ["How do I write a good resume?", "What makes a resume stand out?", "How can I make my CV better?"],
    ["Is coffee bad for you?", "Is drinking coffee unhealthy?"],
    ["How do I become a data scientist?", "What steps should I take to become a data scientist?"],
    ["What causes earthquakes?", "Why do earthquakes happen?"],
    ["How can I stop snoring?", "What are some remedies for snoring?"],
    ["How do I remove a stripped screw?", "What is the best way to get out a stripped screw?"],
    ["What is the best way to learn a new language?", "How can I learn a foreign language effectively?"],
    ["Why do we dream?", "What is the reason humans dream?"],
    ["How can I make my hair grow faster?", "What helps hair grow quicker?"],
    ["What happens to your body when you stop eating sugar?", "What are the effects of quitting sugar?"],
    ["How do I negotiate a higher salary?", "How can I ask my boss for a raise?"],
    ["What is the best way to clean a cast iron pan?", "How should I clean cast iron cookware?"],
    ["How do solar panels work?", "How do solar panels turn sunlight into electricity?"],
    ["How do I get over a breakup?", "What is the best way to move on after a breakup?"],
    ["Why is the ocean salty?", "Where does the salt in the sea come from?"],
    ["How do I start a small business with little money?", "How can I start a business on a tight budget?"],
    ["What is the difference between weather and climate?", "How is climate different from weather?"],
    ["How can I improve my memory?", "What are some ways to get a better memory?"],
    ["Which is better, Android or iPhone?", "Should I buy an iPhone or an Android phone?"],
    ["How do I train my puppy to stop biting?", "How can I get my puppy to stop biting people?"],
    ["What are black holes made of?", "What is inside a black hole?"],
    ["How do I become more confident?", "How can I build self-confidence?"],
    ["How many hours of sleep do adults need?", "How much sleep does an adult need each night?"],
    ["What is the best way to learn math as an adult?", "How can an adult relearn mathematics?"],
    ["How do I fix a leaking faucet?", "How can I repair a dripping tap?"],
    ["Why do onions make you cry?", "What makes your eyes water when cutting onions?"],
    ["How do vaccines work?", "How does a vaccine protect you from disease?"],
    ["What should I pack for a week-long trip to Europe?", "What do I need to bring for a one week vacation in Europe?"],
    ["How can I get better at public speaking?", "How do I overcome my fear of public speaking?"],
    ["What are the benefits of meditation?", "Why should I meditate every day?"],
    ["How do I convert a PDF to a Word document?", "What is the easiest way to turn a PDF into Word?"],
    ["Why did the Roman Empire fall?", "What caused the fall of the Roman Empire?"],
    ["How do I get rid of fruit flies in my kitchen?", "How can I kill fruit flies at home?"],
    ["What is the best exercise to lose belly fat?", "Which exercises burn stomach fat?"],
    ["How do I make a website from scratch?", "How can I build my own website?"],
    ["Is a master's degree worth it?", "Is it worth getting a master's degree?"],
    ["How can I stop overthinking everything?", "How do I stop overthinking?"],
    ["How do I bake bread at home?", "What is a simple recipe for homemade bread?"],
    ["Can dogs eat grapes?", "Are grapes safe for dogs to eat?"],
    ["What is inflation and why does it happen?", "What causes inflation in an economy?"],
    ["How do I reset my router?", "How can I restart my Wi-Fi router to factory settings?"],
    ["How do I learn to draw?", "What is the best way to start drawing as a beginner?"],
    ["What are the signs of a heart attack?", "How can you tell if someone is having a heart attack?"],
    ["How do I become a morning person?", "How can I start waking up early?"],
    ["What is quantum computing?", "How does a quantum computer work?"],
    ["How do I quit smoking?", "What is the best way to stop smoking cigarettes?"],
    ["What are some good side hustles?", "What are good ways to make extra money on the side?"],
    ["How do I keep my houseplants alive?", "How can I stop killing my indoor plants?"],
]

SINGLES = [
    "How do I learn Java quickly?",
    "What is the fastest animal in the world?",
    "How can I gain weight in a healthy way?",
    "What is the best way to save money for retirement?",
    "How do I improve my French pronunciation?",
    "Why is the grass green?",
    "How do I get a job at Microsoft?",
    "What are the side effects of green tea?",
    "What is the difference between a frog and a toad?",
    "Which is the best tablet for students?",
    "How do I charge my phone faster?",
    "What is deep learning used for?",
    "How do I sell stocks?",
    "Is it safe to travel to Mexico City?",
    "How do I treat a sunburn?",
    "What are the best movies of all time?",
    "Why do cats sleep so much?",
    "How do I write a cover letter?",
    "How does the stock market work?",
    "What should I do if my cat stops eating?",
    "How do I find an apartment in a new city?",
    "Why is my internet connection so slow?",
    "How do I check my credit report?",
    "What is the hardest programming language to learn?",
    "How do helicopters fly?",
    "How long does it take to learn piano?",
    "What are the symptoms of iron deficiency?",
    "Is green tea better than coffee?",
    "What causes volcanoes to erupt?",
    "How do I remove rust from metal?",
    "Why do we yawn?",
    "How do I dye my hair at home?",
    "How do I ask for a promotion at work?",
    "How do wind turbines work?",
    "Why is the Dead Sea so salty?",
    "What is the difference between a crocodile and an alligator?",
    "Should I buy a laptop or a desktop computer?",
    "What is inside the Earth's core?",
    "How much water should I drink a day?",
    "How do I fix a running toilet?",
    "Why do we get goosebumps?",
    "What should I pack for a trip to Japan?",
    "What are the benefits of yoga?",
    "How do I merge PDF files?",
    "Why did the Soviet Union collapse?",
    "How do I get rid of ants in my kitchen?",
    "How do I build a mobile app?",
    "Is a PhD worth it?",
    "How do I make pizza dough?",
    "Can cats eat chocolate?",
    "What is a recession?",
    "How do I change my Wi-Fi password?",
    "How do I learn to paint with watercolors?",
    "What are the signs of a stroke?",
    "How can I stop hitting snooze in the morning?",
    "What is a neural network?",
    "How do I quit caffeine?",
    "How do I repot a plant?",
    "What is the capital of Australia?",
    "Who invented the telephone?",
    "How many continents are there?",
    "What is the tallest building in the world?",
    "How do I tie a tie?",
    "What is the speed of light?",
    "How do bees make honey?",
    "What is the best way to store fresh herbs?",
    "How do I clean my laptop keyboard?",
    "Why do leaves change color in autumn?",
]


def main() -> None:
    rows = []
    for g, group in enumerate(GROUPS, start=1):
        rows += [(q, g) for q in group]
    rows += [(q, "") for q in SINGLES]
    random.Random(7).shuffle(rows)  # paraphrases should not sit next to each other
    out = Path(__file__).resolve().parents[1] / "resources" / "sample_questions.csv"
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "question", "paraphrase_group"])
        for i, (q, g) in enumerate(rows, start=1):
            w.writerow([i, q, g])
    print(f"wrote {len(rows)} questions in {len(GROUPS)} paraphrase groups to {out}")


if __name__ == "__main__":
    main()
